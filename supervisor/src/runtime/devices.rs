//! Device units from what devmon reports: each present, ready device is active under every name
//! systemd gives it (`sys-devices-….device`, `dev-sda1.device`,
//! `sys-subsystem-net-devices-eth0.device`); a unit made for it when none exists (devices need
//! no file). The coldplug report is the whole set: a device unit it lacks is gone.

use std::collections::BTreeSet;
use std::rc::Rc;

use proto::bus_capnp::{device, device_events};

use super::*;
use crate::unit::name::{escape, escape_path, UnitType};

/// One device as devmon reported it.
pub struct Reported {
    pub syspath: String,
    pub devname: String,
    pub ifname: String,
    pub ready: bool,
    pub wants: Vec<String>,
    pub props: Vec<String>,
}

impl Reported {
    pub fn read(d: device::Reader<'_>) -> Result<Reported, capnp::Error> {
        let mut wants = Vec::new();
        for w in d.get_wants()?.iter() {
            wants.push(w?.to_str()?.to_string());
        }
        let mut props = Vec::new();
        for p in d.get_properties()?.iter() {
            props.push(p?.to_str()?.to_string());
        }
        Ok(Reported {
            syspath: d.get_syspath()?.to_str()?.to_string(),
            devname: d.get_devname()?.to_str()?.to_string(),
            ifname: d.get_ifname()?.to_str()?.to_string(),
            ready: d.get_ready(),
            wants,
            props,
        })
    }

    /// The unit names systemd gives this device.
    pub fn names(&self) -> Vec<String> {
        let mut v = vec![format!("{}.device", escape_path(&self.syspath))];
        if !self.devname.is_empty() {
            v.push(format!("{}.device", escape_path(&self.devname)));
        }
        if !self.ifname.is_empty() {
            v.push(format!(
                "sys-subsystem-net-devices-{}.device",
                escape(&self.ifname)
            ));
        }
        // /dev/disk/by-* links (udev's, or devmon's probe): each is a name of the device.
        let links = self
            .props
            .iter()
            .find_map(|p| p.strip_prefix("DEVLINKS="))
            .unwrap_or("");
        for l in links.split_whitespace() {
            v.push(format!("{}.device", escape_path(l)));
        }
        v
    }
}

/// Makes sure a device unit of this name exists (loaded, of kind Device); returns it.
fn ensure_unit(world: &WorldRef, name: &str, d: &Reported) -> Option<UnitId> {
    let mut guard = world.borrow_mut();
    let w = &mut *guard;
    if let Some(id) = w.manager.units.lookup(name) {
        return Some(id);
    }
    if crate::unit::name::parse(name).is_err() {
        return None;
    }
    let mut cfg = crate::unit::config::UnitConfig::default();
    cfg.unit.description = Some(d.syspath.clone());
    cfg.unit.wants = d.wants.iter().cloned().collect();
    let catalog = w.catalog.clone();
    Some(
        w.manager
            .add_synthetic_unit(&catalog, name, UnitType::Device, cfg),
    )
}

/// One device is present and ready (`present`), or not.
fn seen(world: &WorldRef, d: &Reported, present: bool) {
    for name in d.names() {
        let Some(id) = ensure_unit(world, &name, d) else {
            continue;
        };
        let mut w = world.borrow_mut();
        if let Some(rt) = w.manager.device_mut(id) {
            rt.syspath = d.syspath.clone();
            rt.props = d.props.clone();
        }
        let mut out = Vec::new();
        w.manager.device_seen(id, present && d.ready, &mut out);
        w.manager.defer(out);
    }
}

/// devmon's sink.
pub struct DeviceEventsServer {
    pub world: WorldRef,
}

impl device_events::Server for DeviceEventsServer {
    async fn coldplug(
        self: Rc<Self>,
        params: device_events::ColdplugParams,
        _results: device_events::ColdplugResults,
    ) -> Result<(), capnp::Error> {
        let mut listed = Vec::new();
        for d in params.get()?.get_devices()?.iter() {
            listed.push(Reported::read(d)?);
        }
        let present: BTreeSet<String> = listed
            .iter()
            .filter(|d| d.ready)
            .flat_map(|d| d.names())
            .collect();
        for d in &listed {
            seen(&self.world, d, true);
        }
        // What was there and is no more (it went while devmon was down).
        let gone: Vec<UnitId> = {
            let w = self.world.borrow();
            w.manager
                .units
                .list
                .iter()
                .filter(|u| !present.contains(&u.name))
                .filter(|u| {
                    matches!(w.manager.rt.get(u.id as usize).map(|r| &r.kind),
                        Some(Kind::Device(d)) if d.present)
                })
                .map(|u| u.id)
                .collect()
        };
        {
            let mut w = self.world.borrow_mut();
            let mut out = Vec::new();
            for id in gone {
                w.manager.device_seen(id, false, &mut out);
            }
            w.manager.defer(out);
        }
        process(&self.world);
        Ok(())
    }

    async fn changed(
        self: Rc<Self>,
        params: device_events::ChangedParams,
        _results: device_events::ChangedResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let d = Reported::read(p.get_device()?)?;
        seen(&self.world, &d, p.get_present());
        process(&self.world);
        Ok(())
    }
}
