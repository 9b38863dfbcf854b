//! Linux arm64 kernel images and modules: finding, decoding and checking their alternatives
//! tables (`altcheck ... --linux`).

pub mod analysis;
pub mod bounds;
pub mod callbacks;
pub mod checks;
pub mod cpucaps;
pub mod crosscheck;
pub mod elfobj;
pub mod emit;
pub mod emit_report;
pub mod entry;
pub mod features;
pub mod format;
pub mod insnfix;
pub mod kallsyms;
pub mod kernel;
pub mod layout;
pub mod model_caps;
pub mod modules;
pub mod relocs;
pub mod report;
pub mod simulate;
pub mod space;
pub mod symbols;
pub mod text;
