//! `altcheck`: verify, dump and simulate an altpatch kernel's alternatives table
//! (README, "altcheck").

use std::process::ExitCode;

use altcheck::Image;
use arm64_caps::caps;

const USAGE: &str = "usage: altcheck verify ELF | dump ELF | simulate (--cpu MODEL | --caps A,B,...) ELF\n\
                     (for a module: --kernel KERNEL_ELF before MODULE_OBJECT in place of ELF)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("altcheck: {msg}");
            ExitCode::from(2)
        }
    }
}

fn load(path: &str) -> Result<Image, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    Image::parse(&data).map_err(|e| format!("{path}: {e}"))
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let current = &caps::LIST;
    let history = caps::history::LISTS;
    let (args, kernel) = altcheck::module::split_kernel_arg(args);
    let load = |path: &str| match &kernel {
        Some(kernel) => altcheck::module::load(kernel, path, current),
        None => load(path),
    };
    let args = args.as_slice();
    match args {
        [cmd, elf] if cmd == "verify" => {
            let lines = altcheck::verify(&load(elf)?, current, history);
            for l in &lines {
                println!("{l}");
            }
            Ok(if lines.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        [cmd, elf] if cmd == "dump" => {
            print!("{}", altcheck::dump(&load(elf)?, current));
            Ok(ExitCode::SUCCESS)
        }
        [cmd, opt, value, elf] if cmd == "simulate" => {
            let enabled: Vec<u16> = match opt.as_str() {
                "--caps" => value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|id| {
                        current.index_of(id).ok_or_else(|| {
                            format!("unknown capability {id}; valid: {}", current.idents.join(", "))
                        })
                    })
                    .collect::<Result<_, _>>()?,
                "--cpu" => {
                    let model = caps::models::by_name(value).ok_or_else(|| {
                        let names: Vec<&str> = caps::models::MODELS.iter().map(|m| m.name).collect();
                        format!("unknown CPU model {value}; valid: {}", names.join(", "))
                    })?;
                    let system = caps::CpuFeatures::new(
                        &model.regs,
                        &caps::Platform { gicv3: true, ..caps::Platform::default() },
                    )
                    .finalise();
                    system.caps().iter().map(caps::Cap::index).collect()
                }
                _ => return Err(USAGE.into()),
            };
            match altcheck::simulate(&load(elf)?, current, history, &|i| enabled.contains(&i)) {
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
        _ => Err(USAGE.into()),
    }
}
