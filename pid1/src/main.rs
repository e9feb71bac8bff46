//! cairn-init. See the crate documentation; `cairn-init --help` for the options.

fn main() {
    cairn_init::main()
}
