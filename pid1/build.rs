//! Links cairn-init with the functions it runs first (link/order.rs).
include!("../link/order.rs");

fn main() {
    link_order("cairn-init");
}
