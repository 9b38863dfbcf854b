//! Boot-argument overrides of ID-register fields, in the spirit of Linux's
//! `id_aa64isar1.gpi=0` and `arm64.nobti`, so a tester can exercise fallback paths on
//! `-cpu max` and refuse a late CPU on purpose.
//!
//! Syntax (each a separate command-line argument):
//!
//! - `REG.FIELD=VALUE`: on every CPU. `REG` is the register name in lower case without
//!   `_el1` (`id_aa64isar0`, `ctr_el0`); `FIELD` the Arm ARM field name in lower case
//!   (`atomic`); `VALUE` decimal or `0x` hex, the raw field encoding (so `0xf` in a signed
//!   field is "not implemented").
//! - `cpuN:REG.FIELD=VALUE`: on logical CPU `N` only (the boot CPU is 0), e.g.
//!   `cpu3:id_aa64isar0.atomic=0` to make CPU 3 arrive without LSE.
//! - Shorthands, as Linux 6.1 has them: `arm64.nobti`, `arm64.nopauth`, `arm64.nomte`,
//!   `arm64.nosve`, `arm64.nosme`; and ours, `arm64.nolse` (`id_aa64isar0.atomic=0`).
//! - Linux 6.1's alias `kvm-arm.mode=nvhe` for `id_aa64mmfr1.vh=0` (idreg-override.c
//!   `aliases[]`): the kernel entered at EL2 does not stay there with VHE, it drops to EL1.
//!   Linux takes `id_aa64mmfr1.vh=0` itself too (its `mmfr1` override set has the `vh` field).
//!
//! An override can only make a field safer, never claim hardware that is absent: the
//! value applied is the field's sanitising [`Field::combine`] of the real value and the
//! override, so a lower-safe field can only go down (as Linux's `FTR_LOWER_SAFE`
//! overrides). `id_aa64isar0.atomic=2` on a CPU without LSE changes nothing.

use super::IdRegs;
use super::fields::{self, Field};
use crate::cmdline::{ArgError, BootArg, parse_u64};

/// The most overrides kept (a shorthand may use several).
pub const CAPACITY: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    cpu: Option<usize>,
    field: &'static Field,
    value: i64,
}

/// The overrides taken from the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    entries: [Option<Entry>; CAPACITY],
}

/// Linux 6.1's `arm64.no*` shorthands (arch/arm64/kernel/idreg-override.c), plus `nolse`.
const SHORTHANDS: &[(&str, &[&Field])] = &[
    ("arm64.nobti", &[&fields::id_aa64pfr1::BT]),
    (
        "arm64.nopauth",
        &[
            &fields::id_aa64isar1::APA,
            &fields::id_aa64isar1::API,
            &fields::id_aa64isar1::GPA,
            &fields::id_aa64isar1::GPI,
            &fields::id_aa64isar2::APA3,
            &fields::id_aa64isar2::GPA3,
        ],
    ),
    ("arm64.nomte", &[&fields::id_aa64pfr1::MTE]),
    ("arm64.nosve", &[&fields::id_aa64pfr0::SVE]),
    ("arm64.nosme", &[&fields::id_aa64pfr1::SME]),
    ("arm64.nolse", &[&fields::id_aa64isar0::ATOMIC]),
];

/// Linux 6.1's aliases whose key has a value: `(key, value, fields set to 0)`.
const ALIASES: &[(&str, &str, &[&Field])] = &[("kvm-arm.mode", "nvhe", &[&fields::id_aa64mmfr1::VH])];

impl Overrides {
    /// Takes `arg` if it is an override. `Ok(true)`: taken; `Ok(false)`: not an override
    /// key, another part of the kernel may own it; `Err`: an override key that is unknown
    /// (no such register, field or shorthand) or malformed. Nothing is recorded on error.
    pub fn accept(&mut self, arg: &BootArg<'_>) -> Result<bool, ArgError> {
        if ALIASES.iter().any(|(key, _, _)| *key == arg.key) {
            let Some(&(_, _, list)) =
                ALIASES.iter().find(|(key, value, _)| *key == arg.key && arg.value == Some(*value))
            else {
                return Err(ArgError::Malformed("nvhe (the only mode this kernel has an override for)"));
            };
            if self.free() < list.len() {
                return Err(ArgError::Malformed("fewer overrides (at most 32)"));
            }
            for &field in list {
                self.push(Entry { cpu: None, field, value: 0 });
            }
            return Ok(true);
        }
        if let Some(name) = arg.key.strip_prefix("arm64.") {
            let &(_, list) = SHORTHANDS
                .iter()
                .find(|(k, _)| k.strip_prefix("arm64.") == Some(name))
                .ok_or(ArgError::Unknown)?;
            if arg.value.is_some() {
                return Err(ArgError::Malformed("no value"));
            }
            if self.free() < list.len() {
                return Err(ArgError::Malformed("fewer overrides (at most 32)"));
            }
            for &field in list {
                self.push(Entry { cpu: None, field, value: 0 });
            }
            return Ok(true);
        }

        let (cpu, spec) = match arg.key.split_once(':') {
            Some((cpu, spec)) => match cpu.strip_prefix("cpu") {
                Some(n) => {
                    let n =
                        n.parse::<usize>().map_err(|_| ArgError::Malformed("cpuN: with N a CPU number"))?;
                    (Some(n), spec)
                }
                None => return Ok(false),
            },
            None => (None, arg.key),
        };
        let Some((reg, field)) = spec.split_once('.') else {
            return if cpu.is_some() { Err(ArgError::Unknown) } else { Ok(false) };
        };
        let known_reg = fields::Reg::ALL.iter().any(|r| r.name() == reg);
        if !known_reg {
            // Keys shaped like ours but naming no register we snapshot are still ours.
            return if cpu.is_some() || reg.starts_with("id_aa64") {
                Err(ArgError::Unknown)
            } else {
                Ok(false)
            };
        }
        let field = fields::lookup(reg, field).ok_or(ArgError::Unknown)?;
        let text = arg.value.ok_or(ArgError::MissingValue)?;
        let raw = parse_u64(text).ok_or(ArgError::Malformed("a number (decimal or 0x hex)"))?;
        if field.width < 64 && raw >> field.width != 0 {
            return Err(ArgError::Malformed("a value that fits in the field"));
        }
        if self.free() == 0 {
            return Err(ArgError::Malformed("fewer overrides (at most 32)"));
        }
        let value = field.extract(field.insert(0, raw as i64));
        self.push(Entry { cpu, field, value });
        Ok(true)
    }

    fn free(&self) -> usize {
        self.entries.iter().filter(|e| e.is_none()).count()
    }

    fn push(&mut self, entry: Entry) {
        if let Some(slot) = self.entries.iter_mut().find(|e| e.is_none()) {
            *slot = Some(entry);
        }
    }

    /// Whether no override was taken.
    pub fn is_empty(&self) -> bool {
        self.entries.iter().all(Option::is_none)
    }

    /// The overrides for logical CPU `cpu` that would raise a field above what its
    /// snapshot `regs` (before overrides) shows: [`Overrides::apply`] leaves the field as it
    /// is, and the kernel says so, as Linux does ("ignoring override").
    pub fn ignored(&self, cpu: usize, regs: &IdRegs) -> impl Iterator<Item = Ignored> + '_ {
        let regs = *regs;
        let has = move |e: &Entry| e.field.get(&regs);
        self.entries
            .iter()
            .flatten()
            .filter(move |e| e.cpu.is_none_or(|c| c == cpu))
            .filter(move |e| e.field.combine(has(e), e.value) != e.value)
            .map(move |e| Ignored { cpu: e.cpu, field: e.field, wanted: e.value, has: has(e) })
    }

    /// Pairs of overrides of one field on the same CPUs that ask for different values: both
    /// are kept and the safer value applies, and the kernel says so.
    pub fn contradictions(&self) -> impl Iterator<Item = Contradiction> + '_ {
        let entries = &self.entries;
        entries.iter().enumerate().flat_map(move |(i, a)| {
            entries[i + 1..].iter().filter_map(move |b| match (a, b) {
                (Some(a), Some(b))
                    if a.cpu == b.cpu
                        && a.field.reg == b.field.reg
                        && a.field.shift == b.field.shift
                        && a.value != b.value =>
                {
                    Some(Contradiction { cpu: a.cpu, field: a.field, first: a.value, second: b.value })
                }
                _ => None,
            })
        })
    }

    /// The CPUs that `cpuN:` overrides name, for the kernel to check against the CPUs present.
    pub fn cpus_named(&self) -> impl Iterator<Item = (usize, &'static Field, i64)> + '_ {
        self.entries.iter().flatten().filter_map(|e| e.cpu.map(|cpu| (cpu, e.field, e.value)))
    }

    /// Applies the overrides for logical CPU `cpu` to its snapshot, before detection sees
    /// it. Each field only moves toward its safe value.
    pub fn apply(&self, cpu: usize, regs: &mut IdRegs) {
        for e in self.entries.iter().flatten() {
            if e.cpu.is_none_or(|c| c == cpu) {
                let v = e.field.combine(e.field.get(regs), e.value);
                e.field.set(regs, v);
            }
        }
    }
}

/// An override that asks for more than the CPU has: ignored (an override can only make a
/// field safer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// The CPU it named (`None`: every CPU).
    pub cpu: Option<usize>,
    /// The field.
    pub field: &'static Field,
    /// The value asked for.
    pub wanted: i64,
    /// The value the CPU has.
    pub has: i64,
}

/// `SYS_ID_AA64ISAR0_EL1[23:20]`: a field as Linux's `init_cpu_ftr_reg` names it.
struct LinuxFieldName(&'static Field);

impl core::fmt::Display for LinuxFieldName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let field = self.0;
        let reg = field.reg.name();
        f.write_str("SYS_")?;
        for c in reg.chars() {
            write!(f, "{}", c.to_ascii_uppercase())?;
        }
        if !reg.ends_with("_el0") {
            f.write_str("_EL1")?;
        }
        write!(f, "[{}:{}]", field.shift + field.width - 1, field.shift)
    }
}

/// As Linux words it: `SYS_ID_AA64ISAR0_EL1[23:20]: ignoring override to 2`, and what the
/// CPU has.
impl core::fmt::Display for Ignored {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: ignoring override to {:x}", LinuxFieldName(self.field), self.wanted)?;
        match self.cpu {
            Some(cpu) => write!(f, " (CPU{cpu} has {:x}; an override can only lower a feature)", self.has),
            None => write!(f, " (the CPU has {:x}; an override can only lower a feature)", self.has),
        }
    }
}

/// Two overrides of one field on the same CPUs with different values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contradiction {
    /// The CPU both named (`None`: every CPU).
    pub cpu: Option<usize>,
    /// The field.
    pub field: &'static Field,
    /// The value the earlier one asked for.
    pub first: i64,
    /// The value the later one asked for.
    pub second: i64,
}

impl core::fmt::Display for Contradiction {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (reg, name) = (self.field.reg.name(), self.field.name);
        let whom = match self.cpu {
            Some(cpu) => alloc::format!("cpu{cpu}:"),
            None => alloc::string::String::new(),
        };
        write!(
            f,
            "{whom}{reg}.{name}={:#x} and {whom}{reg}.{name}={:#x} contradict each other: the safer value applies",
            self.first, self.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::fields::{id_aa64isar0, id_aa64isar1, id_aa64pfr0, id_aa64pfr1};
    use crate::caps::models::by_name;
    use crate::cmdline::parse;

    fn take(o: &mut Overrides, cmdline: &str) -> Result<bool, ArgError> {
        o.accept(&parse(cmdline).next().unwrap())
    }

    #[test]
    fn field_override_lowers_a_field_on_every_cpu() {
        let mut o = Overrides::default();
        assert_eq!(take(&mut o, "id_aa64isar0.atomic=0"), Ok(true));
        for cpu in [0, 3] {
            let mut regs = by_name("max").unwrap().regs;
            o.apply(cpu, &mut regs);
            assert_eq!(id_aa64isar0::ATOMIC.get(&regs), 0);
            assert_eq!(id_aa64isar0::CRC32.get(&regs), 1, "other fields untouched");
        }
    }

    #[test]
    fn per_cpu_override_touches_only_that_cpu() {
        let mut o = Overrides::default();
        assert_eq!(take(&mut o, "cpu3:id_aa64isar0.atomic=0"), Ok(true));
        let max = by_name("max").unwrap().regs;
        let (mut cpu2, mut cpu3) = (max, max);
        o.apply(2, &mut cpu2);
        o.apply(3, &mut cpu3);
        assert_eq!(cpu2, max);
        assert_eq!(id_aa64isar0::ATOMIC.get(&cpu3), 0);
    }

    #[test]
    fn overrides_cannot_raise_a_feature() {
        let mut o = Overrides::default();
        assert_eq!(take(&mut o, "id_aa64isar0.atomic=2"), Ok(true));
        let a53 = by_name("cortex-a53").unwrap().regs;
        let mut regs = a53;
        o.apply(0, &mut regs);
        assert_eq!(regs, a53);
    }

    #[test]
    fn a_raise_attempt_is_named_as_linux_names_it_and_a_lowering_is_not() {
        let mut o = Overrides::default();
        assert_eq!(take(&mut o, "id_aa64isar0.atomic=2"), Ok(true));
        assert_eq!(take(&mut o, "id_aa64isar0.crc32=0"), Ok(true));
        let a53 = by_name("cortex-a53").unwrap().regs;
        let ignored: std::vec::Vec<_> = o.ignored(0, &a53).collect();
        assert_eq!(ignored.len(), 1, "{ignored:?}");
        assert_eq!(
            std::format!("{}", ignored[0]),
            "SYS_ID_AA64ISAR0_EL1[23:20]: ignoring override to 2 (the CPU has 0; an override can only lower a feature)"
        );
        // On a CPU with LSE the same override asks for nothing it lacks.
        assert_eq!(o.ignored(0, &by_name("max").unwrap().regs).count(), 0);
    }

    #[test]
    fn contradicting_overrides_of_one_field_are_paired_and_others_are_not() {
        let mut o = Overrides::default();
        for arg in
            ["arm64.nolse", "id_aa64isar0.atomic=2", "cpu1:id_aa64isar0.atomic=2", "id_aa64isar0.crc32=0"]
        {
            assert_eq!(take(&mut o, arg), Ok(true));
        }
        let found: std::vec::Vec<_> = o.contradictions().collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].cpu, found[0].first, found[0].second), (None, 0, 2));
    }

    #[test]
    fn per_cpu_overrides_report_the_cpus_they_name() {
        let mut o = Overrides::default();
        assert_eq!(take(&mut o, "cpu7:id_aa64isar0.atomic=0"), Ok(true));
        assert_eq!(take(&mut o, "id_aa64isar0.crc32=0"), Ok(true));
        let named: std::vec::Vec<_> =
            o.cpus_named().map(|(cpu, field, value)| (cpu, field.name, value)).collect();
        assert_eq!(named, [(7, "atomic", 0)]);
    }

    #[test]
    fn signed_field_override_to_0xf_means_not_implemented() {
        let mut o = Overrides::default();
        assert_eq!(take(&mut o, "id_aa64pfr0.fp=0xf"), Ok(true));
        let mut regs = by_name("max").unwrap().regs;
        o.apply(0, &mut regs);
        assert_eq!(id_aa64pfr0::FP.get(&regs), -1);
    }

    #[test]
    fn shorthands_clear_their_fields() {
        let mut o = Overrides::default();
        assert_eq!(take(&mut o, "arm64.nopauth"), Ok(true));
        assert_eq!(take(&mut o, "arm64.nobti"), Ok(true));
        assert_eq!(take(&mut o, "arm64.nolse"), Ok(true));
        let mut regs = by_name("max").unwrap().regs;
        o.apply(1, &mut regs);
        assert_eq!(id_aa64isar1::APA.get(&regs), 0);
        assert_eq!(id_aa64isar1::GPA.get(&regs), 0);
        assert_eq!(id_aa64pfr1::BT.get(&regs), 0);
        assert_eq!(id_aa64isar0::ATOMIC.get(&regs), 0);
    }

    #[test]
    fn unknown_and_malformed_overrides_are_errors_and_record_nothing() {
        let mut o = Overrides::default();
        assert_eq!(take(&mut o, "id_aa64isar0.bogus=0"), Err(ArgError::Unknown));
        assert_eq!(take(&mut o, "id_aa64isar9.atomic=0"), Err(ArgError::Unknown));
        assert_eq!(take(&mut o, "arm64.nofoo"), Err(ArgError::Unknown));
        assert_eq!(take(&mut o, "id_aa64isar0.atomic"), Err(ArgError::MissingValue));
        assert!(matches!(take(&mut o, "id_aa64isar0.atomic=x"), Err(ArgError::Malformed(_))));
        assert!(matches!(take(&mut o, "id_aa64isar0.atomic=16"), Err(ArgError::Malformed(_))));
        assert!(matches!(take(&mut o, "cpuX:id_aa64isar0.atomic=0"), Err(ArgError::Malformed(_))));
        assert!(matches!(take(&mut o, "arm64.nobti=1"), Err(ArgError::Malformed(_))));
        assert!(o.is_empty());
    }

    #[test]
    fn kvm_arm_mode_nvhe_and_vh_0_hide_vhe() {
        for cmdline in ["kvm-arm.mode=nvhe", "id_aa64mmfr1.vh=0"] {
            let mut o = Overrides::default();
            assert_eq!(take(&mut o, cmdline), Ok(true), "{cmdline}");
            let mut regs = by_name("max").unwrap().regs;
            assert_eq!(fields::id_aa64mmfr1::VH.get(&regs), 1);
            o.apply(0, &mut regs);
            assert_eq!(fields::id_aa64mmfr1::VH.get(&regs), 0, "{cmdline}");
            assert_eq!(fields::id_aa64mmfr1::PAN.get(&regs), 2, "{cmdline}: other fields untouched");
        }
        let mut o = Overrides::default();
        assert!(matches!(take(&mut o, "kvm-arm.mode=vhe"), Err(ArgError::Malformed(_))));
        assert!(matches!(take(&mut o, "kvm-arm.mode"), Err(ArgError::Malformed(_))));
        assert!(o.is_empty());
    }

    #[test]
    fn other_keys_are_left_to_their_owners() {
        let mut o = Overrides::default();
        assert_eq!(take(&mut o, "console=ttyAMA0"), Ok(false));
        assert_eq!(take(&mut o, "quiet"), Ok(false));
        assert_eq!(take(&mut o, "kasan.mode=off"), Ok(false));
        assert!(o.is_empty());
    }

    #[test]
    fn capacity_is_enforced_without_dropping_earlier_overrides() {
        let mut o = Overrides::default();
        for _ in 0..CAPACITY {
            assert_eq!(take(&mut o, "id_aa64isar0.crc32=0"), Ok(true));
        }
        assert!(matches!(take(&mut o, "id_aa64isar0.atomic=0"), Err(ArgError::Malformed(_))));
        let mut regs = by_name("max").unwrap().regs;
        o.apply(0, &mut regs);
        assert_eq!(id_aa64isar0::CRC32.get(&regs), 0);
        assert_eq!(id_aa64isar0::ATOMIC.get(&regs), 2);
    }
}
