//! Units as files: the syntax, names, specifiers, command lines and values of systemd's unit
//! files; typed settings; conditions; finding and loading them along the unit path.

pub mod builtin;
pub mod capability;
pub mod condition;
pub mod config;
pub mod exec;
pub mod exec_config;
pub mod install;
pub mod load;
pub mod mount_config;
pub mod name;
pub mod number;
pub mod resource;
pub mod service_keys;
pub mod shared;
pub mod socket_config;
pub mod specifier;
pub mod syntax;
pub mod sysv;
pub mod values;
pub mod verify;
