//! `altcheck`: verify, dump and simulate an altpatch kernel's alternatives table
//! (docs/boot-log.md, "altcheck"), or a Linux arm64 kernel's and its modules' (`--linux`).

use std::path::PathBuf;
use std::process::ExitCode;

use altcheck::Image;
use altcheck::linux::analysis::{self, Analysis, Inputs};
use altcheck::linux::report::{self, Format};
use altcheck::linux::simulate;
use altcheck::linux::{emit, emit_report, model_caps};
use arm64_caps::caps;
use clap::{Args, Parser, Subcommand, ValueEnum};

const USAGE: &str = "usage: altcheck verify ELF | dump ELF | simulate (--cpu MODEL | --caps A,B,...) ELF\n       \
                     (for a module: --kernel KERNEL_ELF MODULE_OBJECT in place of ELF)\n       \
                     altcheck verify|dump [OPTIONS] --linux IMAGE | simulate (--cpu MODEL | --caps A,B,...) [OPTIONS] --linux IMAGE\n       \
                     (OPTIONS: --cpucaps FILE, --system-map FILE, --modules DIR, --format text|json)";

/// Checks an alternatives table before the kernel boots: an altpatch kernel ELF, or a Linux
/// arm64 kernel image and its modules (--linux). Exit status: 0 clean, 1 defects, 2 unusable
/// input or usage.
#[derive(Parser)]
#[command(name = "altcheck", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every entry checked; one line per defect; exit 1 when there is any.
    Verify(Target),
    /// One row per entry: index, capability, lengths, kind, site (and callback).
    Dump(Target),
    /// Which sites would be patched on a CPU model (or with the capabilities given).
    Simulate {
        /// A QEMU CPU model (cortex-a53, ..., max): its capabilities as altpatch detects them.
        #[arg(long, conflicts_with = "caps")]
        cpu: Option<String>,
        /// Capabilities by name, comma-separated (HAS_LSE_ATOMICS,HAS_CRC32).
        #[arg(long)]
        caps: Option<String>,
        /// Write the image as Linux leaves it after boot and system alternatives (--linux).
        #[arg(long, value_name = "FILE", requires = "linux")]
        emit_text: Option<PathBuf>,
        /// With --emit-text: a reviewer's report grouped by capability instead of one row per entry.
        #[arg(long, requires = "emit_text")]
        report: bool,
        /// The kernel command line (with --emit-text and --cpu): its ID-register overrides
        /// (`arm64.nopauth`, `arm64.nobti`, `id_aa64mmfr1.vh=0`, ...) apply to the model.
        #[arg(long, value_name = "ARGS", default_value = "", requires = "emit_text")]
        append: String,
        /// With --emit-text and --cpu: the CPUs start at EL2 (QEMU `virtualization=on`).
        #[arg(long, requires = "emit_text")]
        el2: bool,
        /// Test only: treat these capabilities (comma-separated) as on, to prove the oracle catches it.
        #[arg(long, hide = true, requires = "emit_text")]
        force_cap: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// The ID registers each --cpu model stands for, as QEMU 7.2's guest reads them at EL1:
    /// one `MODEL REGISTER 0xVALUE` line each (tests/qemu-models compares them with QEMU).
    Models,
}

/// What to check.
#[derive(Args)]
struct Target {
    /// An altpatch kernel ELF (with --kernel: a module object for that kernel).
    #[arg(required_unless_present = "linux", conflicts_with = "linux")]
    elf: Option<PathBuf>,
    /// The altpatch kernel ELF the module (ELF) will load into: the module is laid out and
    /// relocated as the kernel's loader does, its callbacks checked against the kernel's exports.
    #[arg(long, value_name = "KERNEL_ELF", requires = "elf")]
    kernel: Option<PathBuf>,
    /// A Linux arm64 kernel: raw Image (Debian's vmlinuz), gzip'd Image, EFI zboot, or ELF vmlinux.
    #[arg(long, value_name = "IMAGE")]
    linux: Option<PathBuf>,
    /// The kernel's capability list: cpucaps.h (6.1) or cpucap-defs.h (6.12) from its linux-headers package.
    #[arg(long, value_name = "FILE", requires = "linux")]
    cpucaps: Option<PathBuf>,
    /// A System.map naming the image's symbols (else kallsyms is decoded from the image).
    #[arg(long, value_name = "FILE", requires = "linux")]
    system_map: Option<PathBuf>,
    /// A directory of modules (.ko, .ko.xz, .ko.gz) to check against the kernel's list.
    #[arg(long, value_name = "DIR", requires = "linux")]
    modules: Option<PathBuf>,
    /// Output format (--linux).
    #[arg(long, value_enum, default_value = "text", requires = "linux")]
    format: OutFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    // A closed pipe (`altcheck dump ... | head`) ends the output quietly, as for any filter,
    // instead of panicking in println!.
    std::panic::set_hook(Box::new(|info| {
        let msg = info.payload().downcast_ref::<String>().map_or("", String::as_str);
        if msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        eprintln!("{info}");
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // Usage errors exit 2 (docs/boot-log.md keeps 1 for "the table has bad entries").
            eprint!("{}", e.render());
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // A panic is a bug, but the input is still reported unusable (exit 2), never 101.
    match std::panic::catch_unwind(|| run(cli.cmd)) {
        Ok(Ok(code)) => code,
        Ok(Err(msg)) => {
            eprintln!("altcheck: {msg}");
            ExitCode::from(2)
        }
        Err(_) => {
            eprintln!(
                "altcheck: internal error (a bug in altcheck, reported above): the input could not be checked"
            );
            ExitCode::from(2)
        }
    }
}

fn run(cmd: Cmd) -> Result<ExitCode, String> {
    match cmd {
        Cmd::Verify(t) => match t.linux {
            Some(_) => linux(&t, Mode::Verify),
            None => elf_verify(&t),
        },
        Cmd::Dump(t) => match t.linux {
            Some(_) => linux(&t, Mode::Dump),
            None => {
                print!("{}", altcheck::dump(&load(&t)?, &caps::LIST));
                Ok(ExitCode::SUCCESS)
            }
        },
        Cmd::Simulate { cpu, caps: names, emit_text, report, append, el2, force_cap, target } => {
            match target.linux {
                Some(_) => {
                    let emit = emit_text.map(|file| Emit { file, report, append, el2, force: force_cap });
                    linux(&target, Mode::Simulate { cpu, names, emit })
                }
                None => elf_simulate(cpu, names, &target),
            }
        }
        Cmd::Models => {
            for model in caps::models::MODELS {
                for (register, value) in model.regs.by_name() {
                    println!("{} {register} {value:#x}", model.name);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn elf_path(t: &Target) -> Result<PathBuf, String> {
    t.elf.clone().ok_or_else(|| USAGE.to_owned())
}

/// The target's image: the kernel ELF, or (`--kernel`) the module as its kernel loads it.
fn load(t: &Target) -> Result<Image, String> {
    let elf = elf_path(t)?;
    if let Some(kernel) = &t.kernel {
        return altcheck::module::load(&kernel.to_string_lossy(), &elf.to_string_lossy(), &caps::LIST);
    }
    let path = elf.display();
    let data = std::fs::read(path.to_string()).map_err(|e| format!("cannot read {path}: {e}"))?;
    Image::parse(&data).map_err(|e| format!("{path}: {e}"))
}

fn elf_verify(t: &Target) -> Result<ExitCode, String> {
    let lines = altcheck::verify(&load(t)?, &caps::LIST, caps::history::LISTS);
    for l in &lines {
        println!("{l}");
    }
    Ok(if lines.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn elf_simulate(cpu: Option<String>, names: Option<String>, t: &Target) -> Result<ExitCode, String> {
    let current = &caps::LIST;
    let enabled: Vec<u16> = match (cpu, names) {
        (None, Some(names)) => names
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|id| {
                current
                    .index_of(id)
                    .ok_or_else(|| format!("unknown capability {id}; valid: {}", current.idents.join(", ")))
            })
            .collect::<Result<_, _>>()?,
        (Some(model), None) => {
            let system = caps::models::by_name(&model).map_err(|e| e.to_string())?.system_caps();
            system.caps().iter().map(caps::Cap::index).collect()
        }
        _ => return Err(USAGE.into()),
    };
    match altcheck::simulate(&load(t)?, current, caps::history::LISTS, &|i| enabled.contains(&i)) {
        Ok(text) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Err(lines) => {
            for l in &lines {
                println!("{l}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// What a `--linux` run prints besides the defects.
enum Mode {
    Verify,
    Dump,
    Simulate { cpu: Option<String>, names: Option<String>, emit: Option<Emit> },
}

/// `simulate --emit-text`'s options.
struct Emit {
    file: PathBuf,
    report: bool,
    append: String,
    el2: bool,
    force: Option<String>,
}

fn linux(t: &Target, mode: Mode) -> Result<ExitCode, String> {
    let inputs = Inputs {
        image: t.linux.clone().unwrap_or_default(),
        cpucaps: t.cpucaps.clone(),
        system_map: t.system_map.clone(),
        modules: t.modules.clone(),
    };
    let format = match t.format {
        OutFormat::Text => Format::Text,
        OutFormat::Json => Format::Json,
    };
    let a = analysis::load(&inputs)?;
    notes(&a);
    // The CONTRACT's first line: the table's bounds and how they were found.
    let callbacks = a.spaces[0].entries.iter().filter(|e| e.callback).count();
    println!("{}", report::table(&a.kernel.table, callbacks, format));
    match mode {
        Mode::Verify => {}
        Mode::Dump => dump(&a, format),
        Mode::Simulate { cpu, names, emit: None } => simulate(&a, cpu, names, format)?,
        Mode::Simulate { cpu, names, emit: Some(e) } => emit_text(&a, cpu, names, &e, format)?,
    }
    let defects = a.defects();
    for d in &defects {
        println!("{}", report::defect(d, format));
    }
    println!("{}", report::summary(&a.summary(defects.len()), format));
    Ok(if defects.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Where things came from, on stderr: the summary stays the last line of stdout.
fn notes(a: &Analysis) {
    let k = &a.kernel;
    eprintln!(
        "altcheck: {}: {}, symbols from {}, {} vDSO table(s), {} module files read",
        k.release,
        k.container.name(),
        k.symbol_source,
        a.kernel_spaces - 1,
        a.module_files
    );
    let own = &a.spaces[0].entries;
    let agreed = if k.table.agreed.is_empty() {
        String::new()
    } else {
        format!("; agreeing: {}", k.table.agreed.join(", "))
    };
    eprintln!(
        "altcheck: the kernel's table: {} entries ({} callbacks), bounds {}{agreed}",
        own.len(),
        own.iter().filter(|e| e.callback).count(),
        k.table.how
    );
    let code: Vec<String> =
        k.text.iter().map(|r| format!("{:#x}..{:#x} {}", r.start, r.end, r.what)).collect();
    eprintln!("altcheck: code ranges: {}", code.join("; "));
    let c = &a.cross;
    let ncaps = match c.ncaps {
        Some(n) => format!("ARM64_NCAPS {n} confirmed by this_cpu_has_cap()"),
        None => "ARM64_NCAPS not confirmed (no bound found in this_cpu_has_cap())".to_owned(),
    };
    let verdict = if c.confirms() {
        format!(
            "{ncaps}; {} of its {} capability numbers confirmed by the image's descriptors",
            c.agree.len(),
            a.caps.ncaps
        )
    } else if c.unnamed.is_empty() {
        format!("{ncaps}; no capability descriptors found in the image")
    } else {
        format!("{ncaps}; the list names none of the {} capabilities the image describes", c.unnamed.len())
    };
    eprintln!("altcheck: capability list {} (ARM64_NCAPS {}): {verdict}", a.caps.source, a.caps.ncaps);
}

fn dump(a: &Analysis, f: Format) {
    if f == Format::Text {
        println!("{}", report::dump_header());
    }
    for s in &a.spaces {
        for e in &s.entries {
            println!("{}", report::dump_row(a, s, e, f));
        }
    }
}

/// The capabilities on: a model's (and Linux's always-on ones) or those named.
fn enabled(a: &Analysis, cpu: Option<String>, names: Option<String>) -> Result<Vec<u16>, String> {
    Ok(match (cpu, names) {
        (Some(model), None) => {
            let (on, missing) = simulate::enabled_on(&model, &a.caps)?;
            if !missing.is_empty() {
                eprintln!("altcheck: {model}: detected but not in {}: {}", a.caps.source, missing.join(", "));
            }
            on
        }
        (None, Some(names)) => simulate::enabled_by_name(&names, &a.caps)?,
        _ => return Err(USAGE.into()),
    })
}

fn simulate(a: &Analysis, cpu: Option<String>, names: Option<String>, f: Format) -> Result<(), String> {
    let on = enabled(a, cpu, names)?;
    for s in &a.spaces {
        let (mut patched, mut skipped) = (0, 0);
        for e in &s.entries {
            // Before 6.1 a callback (cpufeature == ARM64_NCAPS) is applied unconditionally.
            let enabled = on.contains(&e.cap) || (e.callback && e.cap == a.caps.ncaps);
            if enabled {
                patched += 1
            } else {
                skipped += 1
            }
            println!("{}", report::simulate_row(a, s, e, enabled, f));
        }
        if f == Format::Text {
            println!("{}: {patched} patched, {skipped} skipped of {} entries", s.name, s.entries.len());
        }
    }
    Ok(())
}

/// `simulate --emit-text`: the patched image written, one row per site (or the report).
fn emit_text(
    a: &Analysis,
    cpu: Option<String>,
    names: Option<String>,
    e: &Emit,
    f: Format,
) -> Result<(), String> {
    let (model, mut on) = match cpu {
        Some(m) => {
            let system = model_caps::system_caps(&m, e.el2, &e.append, 2)?;
            let (mut on, missing) = simulate::numbered(&system, &a.caps);
            on.extend(model_caps::linux_only(&m)?.iter().filter_map(|n| a.caps.index_of(n)));
            if model_caps::kpti(&m, &e.append)? {
                on.extend(a.caps.index_of("UNMAP_KERNEL_AT_EL0"));
            }
            if !missing.is_empty() {
                eprintln!("altcheck: {m}: detected but not in {}: {}", a.caps.source, missing.join(", "));
            }
            (format!("{m}{} [{}]", if e.el2 { " at EL2" } else { "" }, e.append), on)
        }
        None => ("(capabilities given)".to_owned(), enabled(a, None, names)?),
    };
    // cpufeature.c: ALWAYS_BOOT and ALWAYS_SYSTEM are on on every CPU.
    on.extend(["ALWAYS_BOOT", "ALWAYS_SYSTEM"].iter().filter_map(|n| a.caps.index_of(n)));
    if let Some(forced) = &e.force {
        on.extend(simulate::enabled_by_name(forced, &a.caps)?);
    }
    let ncaps = a.caps.ncaps;
    let is_on = |cap: u16| on.contains(&cap) || cap == ncaps;
    let (image, sites) = emit::emit(&a.kernel, &a.spaces[0], &is_on)?;
    std::fs::write(&e.file, &image).map_err(|err| format!("{}: {err}", e.file.display()))?;
    if e.report {
        print!("{}", emit_report::report(a, &model, &sites));
    } else {
        for s in &sites {
            println!("{}", emit_report::site_row(a, s, f));
        }
    }
    Ok(())
}
