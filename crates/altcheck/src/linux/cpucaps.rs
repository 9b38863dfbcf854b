//! Linux's capability list: the generated `cpucaps.h` (6.1) or `cpucap-defs.h` (6.12) of the
//! matching linux-headers package, or one of the lists shipped with altcheck
//! (`crates/altcheck/data/cpucaps/<release>.h`, copied from Debian's headers packages).

/// The lists altcheck ships: (release, header text).
const SHIPPED: &[(&str, &str)] = &[
    ("6.1.0-57-arm64", include_str!("../../data/cpucaps/6.1.0-57-arm64.h")),
    ("6.12.117+deb12-arm64", include_str!("../../data/cpucaps/6.12.117+deb12-arm64.h")),
];

/// One kernel's capability numbering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinuxCaps {
    /// Where it came from (a file, or `shipped list for RELEASE`).
    pub source: String,
    /// Name (without `ARM64_`) of each number; empty where the header defines none.
    pub names: Vec<String>,
    /// `ARM64_NCAPS`.
    pub ncaps: u16,
    /// Every `(number, name)` the header defines, in its order.
    pub defined: Vec<(u16, String)>,
}

impl LinuxCaps {
    /// Parses `#define ARM64_NAME N` lines; `ARM64_NCAPS` is required, and every number
    /// below it defined exactly once: Linux's lists are dense (the generated `cpucaps.h` /
    /// `cpucap-defs.h` of arch/arm64/tools/gen-cpucaps.awk counts them; 5.10's hand-written
    /// `cpucaps.h` numbers them 0, 1, ... and sets `ARM64_NCAPS` after the last), so a list
    /// with a gap or a number defined twice was edited.
    pub fn parse(text: &str, source: &str) -> Result<LinuxCaps, String> {
        let caps = Self::parse_unchecked(text, source)?;
        let mut seen = vec![Vec::new(); usize::from(caps.ncaps)];
        for (n, name) in &caps.defined {
            seen[usize::from(*n)].push(name.as_str());
        }
        if let Some((n, names)) = seen.iter().enumerate().find(|(_, v)| v.len() > 1) {
            return Err(format!(
                "{source}: capability {n} is defined {} times ({}): not Linux's list",
                names.len(),
                names.join(", ")
            ));
        }
        let missing: Vec<usize> =
            seen.iter().enumerate().filter(|(_, v)| v.is_empty()).map(|(n, _)| n).collect();
        if let Some(&first) = missing.first() {
            return Err(format!(
                "{source}: ARM64_NCAPS is {} but {} numbers below it are not defined (the first {first}): not Linux's list",
                caps.ncaps,
                missing.len()
            ));
        }
        Ok(caps)
    }

    /// [`LinuxCaps::parse`] without the density check (a partial list, for tests).
    pub fn parse_unchecked(text: &str, source: &str) -> Result<LinuxCaps, String> {
        let mut defs = Vec::new();
        let mut ncaps = None;
        for line in text.lines() {
            let mut f = line.split_whitespace();
            let (Some("#define"), Some(name), Some(value)) = (f.next(), f.next(), f.next()) else { continue };
            let (Some(name), Ok(n)) = (name.strip_prefix("ARM64_"), value.parse::<u16>()) else { continue };
            if name == "NCAPS" {
                ncaps = Some(n);
            } else {
                defs.push((n, name.to_owned()));
            }
        }
        let ncaps =
            ncaps.ok_or_else(|| format!("{source}: no ARM64_NCAPS: not a cpucaps.h / cpucap-defs.h"))?;
        if ncaps >= entry_limit() {
            return Err(format!("{source}: ARM64_NCAPS {ncaps} does not fit the entries' 15-bit field"));
        }
        let mut names = vec![String::new(); usize::from(ncaps)];
        for (n, name) in &defs {
            let slot = names
                .get_mut(usize::from(*n))
                .ok_or_else(|| format!("{source}: ARM64_{name} = {n} is not below ARM64_NCAPS {ncaps}"))?;
            *slot = name.clone();
        }
        Ok(LinuxCaps { source: source.to_owned(), names, ncaps, defined: defs })
    }

    /// The list shipped for `release`, if any.
    pub fn shipped(release: &str) -> Option<LinuxCaps> {
        SHIPPED
            .iter()
            .find(|s| s.0 == release)
            .and_then(|s| Self::parse(s.1, &format!("shipped list for {}", s.0)).ok())
    }

    /// Every shipped list, in order.
    pub fn all_shipped() -> impl Iterator<Item = LinuxCaps> {
        SHIPPED.iter().filter_map(|s| Self::parse(s.1, &format!("shipped list for {}", s.0)).ok())
    }

    /// The name of capability `cap`, if the list defines it.
    pub fn name(&self, cap: u16) -> Option<&str> {
        self.names.get(usize::from(cap)).map(String::as_str).filter(|n| !n.is_empty())
    }

    /// The number of capability `name` (without `ARM64_`).
    pub fn index_of(&self, name: &str) -> Option<u16> {
        self.names.iter().position(|n| n == name).map(|i| i as u16)
    }
}

/// Capability numbers are 15 bits (bit 15 is the callback marker).
const fn entry_limit() -> u16 {
    1 << 15
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_parses_with_its_ncaps() {
        let l = LinuxCaps::parse(
            "#define ARM64_ALWAYS_BOOT 0\n#define ARM64_HAS_LSE_ATOMICS\t1\n#define ARM64_NCAPS 2\n",
            "t",
        )
        .unwrap();
        assert_eq!((l.ncaps, l.name(1), l.index_of("ALWAYS_BOOT")), (2, Some("HAS_LSE_ATOMICS"), Some(0)));
        assert_eq!(l.name(2), None);
    }

    #[test]
    fn a_list_with_a_gap_or_a_number_defined_twice_is_refused() {
        let gap = "#define ARM64_A 0\n#define ARM64_B 1\n#define ARM64_NCAPS 200\n";
        assert_eq!(
            LinuxCaps::parse(gap, "t").unwrap_err(),
            "t: ARM64_NCAPS is 200 but 198 numbers below it are not defined (the first 2): not Linux's list"
        );
        let twice = "#define ARM64_A 0\n#define ARM64_B 0\n#define ARM64_NCAPS 2\n";
        assert_eq!(
            LinuxCaps::parse(twice, "t").unwrap_err(),
            "t: capability 0 is defined 2 times (A, B): not Linux's list"
        );
    }

    #[test]
    fn a_header_without_ncaps_or_with_a_number_past_it_is_refused() {
        assert!(LinuxCaps::parse("#define ARM64_X 0\n", "t").unwrap_err().contains("no ARM64_NCAPS"));
        assert!(
            LinuxCaps::parse("#define ARM64_X 5\n#define ARM64_NCAPS 2\n", "t")
                .unwrap_err()
                .contains("not below")
        );
    }

    #[test]
    fn the_shipped_debian_lists_number_lse_differently() {
        // Numbers move between releases: why a list must be the image's own.
        let a = LinuxCaps::shipped("6.1.0-57-arm64").unwrap();
        let b = LinuxCaps::shipped("6.12.117+deb12-arm64").unwrap();
        assert_eq!((a.ncaps, a.index_of("HAS_LSE_ATOMICS")), (85, Some(26)));
        assert_eq!(b.ncaps, 102);
        assert_ne!(a.index_of("HAS_LSE_ATOMICS"), b.index_of("HAS_LSE_ATOMICS"));
    }
}
