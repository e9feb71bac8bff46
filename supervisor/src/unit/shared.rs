//! `Shared<T>`: a section of a unit's configuration that most units leave as it is by default
//! (a target's `[Service]`, a service's `[Socket]`, `[Mount]`, `[Install]`, most services'
//! execution environment) is one value shared by all of them; the first change to it makes
//! the unit its own copy (copy on write, `Rc::make_mut`). Reading and writing look like
//! using `T` itself. With 10,000 units loaded, this is most of what their configurations cost.

use std::ops::{Deref, DerefMut};
use std::rc::Rc;

/// Copy-on-write, with the default value shared (per thread: the supervisor has one).
pub struct Shared<T: Clone + Default + 'static>(Rc<T>);

impl<T: Clone + Default + 'static> Default for Shared<T> {
    fn default() -> Self {
        thread_local! {
            static DEFAULTS: std::cell::RefCell<Vec<Rc<dyn std::any::Any>>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        let found = DEFAULTS.with(|d| {
            d.borrow()
                .iter()
                .find_map(|a| a.clone().downcast::<T>().ok())
        });
        if let Some(rc) = found {
            return Shared(rc);
        }
        // Made outside the borrow: T's own default may hold Shared sections too.
        let rc = Rc::new(T::default());
        DEFAULTS.with(|d| d.borrow_mut().push(rc.clone()));
        Shared(rc)
    }
}

impl<T: Clone + Default + 'static> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T: Clone + Default + 'static> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Clone + Default + 'static> DerefMut for Shared<T> {
    fn deref_mut(&mut self) -> &mut T {
        Rc::make_mut(&mut self.0)
    }
}

impl<T: Clone + Default + std::fmt::Debug + 'static> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: Clone + Default + PartialEq + 'static> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Default, PartialEq)]
    struct Big {
        words: Vec<String>,
        n: u32,
    }

    #[test]
    fn defaults_are_one_value_until_changed() {
        let a: Shared<Big> = Shared::default();
        let mut b: Shared<Big> = Shared::default();
        assert!(Rc::ptr_eq(&a.0, &b.0));
        assert_eq!(b.n, 0);
        b.n = 7;
        b.words.push("x".into());
        assert!(!Rc::ptr_eq(&a.0, &b.0));
        assert_eq!(a.n, 0, "the shared default is untouched");
        assert_eq!((b.n, b.words.len()), (7, 1));
        // Another type has its own default.
        let c: Shared<Vec<u8>> = Shared::default();
        assert!(c.is_empty());
    }
}
