//! `modules.stress=N`: N loads in a row over the staged modules in turn (good and bad
//! mixed), each loaded module unloaded again, with the heap and the module area measured
//! before and after: every load must give back all it took.

use super::{area, load, staged, unload};
use crate::{heap, println};
use arm64_caps::caps::SystemCaps;

/// Runs the stress loop and prints its summary line.
pub fn stress(loads: usize, system: &SystemCaps, timeout_us: u64) {
    let objects: alloc::vec::Vec<_> =
        staged().filter_map(|(slot, object)| Some((slot, object.ok()?))).collect();
    if objects.is_empty() {
        println!("modules: stress: no staged modules");
        return;
    }
    let (heap_before, pages_before) = (heap::used(), area::pages_in_use());
    let (mut loaded, mut refused) = (0, 0);
    for &(slot, object) in objects.iter().cycle().take(loads) {
        match load(object, slot, system, timeout_us, true) {
            Ok(module) => {
                loaded += 1;
                unload(module);
            }
            Err(_) => refused += 1,
        }
    }
    let (heap_after, pages_after) = (heap::used(), area::pages_in_use());
    println!(
        "modules: stress: {loads} loads of {} modules: {loaded} loaded, ran and unloaded, {refused} refused; heap used {heap_before} -> {heap_after} bytes, module area {pages_before} -> {pages_after} pages{}",
        objects.len(),
        if heap_before == heap_after && pages_before == pages_after { ", all returned" } else { ", LEAKED" }
    );
}
