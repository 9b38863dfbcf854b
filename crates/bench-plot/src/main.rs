//! Draws the curves of `scripts/bench` as SVG from its rows file (`bench: <name> = <value> <unit>`
//! lines, `target/bench/rows.txt`):
//!
//! - `stop-window.svg`: the stop window against the number of CPUs (guest, `-icount`), beside
//!   its floor, the patch alone (the writes and maintenance every window must contain), and the
//!   goal's line (the 8-CPU window plus 0.2 us per added CPU);
//! - `validation.svg`: validation + planning per entry against table size (host, criterion),
//!   beside its parts, validation alone and making the plan's list of writes alone, its floors,
//!   copying every byte validation reads and copying the table alone, the cost of only
//!   decoding the entries, and the goal (10x the first).
//!
//! `bench-plot ROWS OUT_DIR`. A figure whose rows are missing (a narrowed run) is skipped with
//! a line on stderr.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;

use plotters::prelude::*;

type Rows = BTreeMap<String, f64>;

/// The numeric rows: `bench: NAME = VALUE ...`, VALUE a number.
fn parse(text: &str) -> Rows {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("bench: ")?;
            let (name, value) = rest.split_once(" = ")?;
            let value = value.split_whitespace().next()?.parse().ok()?;
            Some((name.to_owned(), value))
        })
        .collect()
}

/// The `(n, value)` points of rows `{prefix}{n}{suffix}`, ascending by n.
fn series(rows: &Rows, prefix: &str, suffix: &str) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|(name, &v)| {
            let n: u64 = name.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()?;
            Some((n as f64, v))
        })
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts
}

/// One curve: its label, its color and its points.
struct Curve {
    label: &'static str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
    dashed: bool,
}

/// Draws `curves` on log-scaled x (and y when `log_y`) axes into `path`.
fn draw(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    (log_y, legend): (bool, SeriesLabelPosition),
    curves: &[Curve],
) -> Result<(), Box<dyn Error>> {
    let all = curves.iter().flat_map(|c| c.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let y0 = if log_y { (y0 / 2.0).max(1e-3) } else { 0.0 };
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root);
    chart.caption(title, ("sans-serif", 20)).margin(15).x_label_area_size(40).y_label_area_size(60);
    let x_range = (x0 * 0.8..x1 * 1.25).log_scale();
    if log_y {
        let mut c = chart.build_cartesian_2d(x_range, (y0..y1 * 2.0).log_scale())?;
        c.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw()?;
        plot(&mut c, curves, legend)?;
    } else {
        let mut c = chart.build_cartesian_2d(x_range, y0..y1 * 1.15)?;
        c.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw()?;
        plot(&mut c, curves, legend)?;
    }
    root.present()?;
    Ok(())
}

fn plot<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    curves: &[Curve],
    legend: SeriesLabelPosition,
) -> Result<(), Box<dyn Error>>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for c in curves {
        let color = c.color;
        let style = color.stroke_width(2);
        if c.dashed {
            chart
                .draw_series(DashedLineSeries::new(c.points.iter().copied(), 6, 4, style))?
                .label(c.label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
        } else {
            chart
                .draw_series(LineSeries::new(c.points.iter().copied(), style))?
                .label(c.label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
            chart.draw_series(c.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(legend)
        .draw()?;
    Ok(())
}

fn stop_window(rows: &Rows, out: &Path) -> Result<bool, Box<dyn Error>> {
    let window = series(rows, "guest.smp", ".stop_window_us");
    let patch = series(rows, "guest.smp", ".patch_us");
    if window.len() < 2 {
        return Ok(false);
    }
    let base = rows.get("guest.smp8.stop_window_us").copied().unwrap_or(window[0].1);
    let goal = window.iter().map(|&(n, _)| (n, base + 0.2 * (n - 8.0).max(0.0))).collect();
    let curves = [
        Curve { label: "stop window (all CPUs held)", color: RED, points: window, dashed: false },
        Curve {
            label: "floor: patch alone (writes + maintenance)",
            color: BLUE,
            points: patch,
            dashed: false,
        },
        Curve {
            label: "goal: 8-CPU window + 0.2 us per added CPU",
            color: BLACK,
            points: goal,
            dashed: true,
        },
    ];
    draw(
        &out.join("stop-window.svg"),
        "Stop window against CPUs (QEMU virt, -icount shift=0)",
        "CPUs",
        "guest us",
        (false, SeriesLabelPosition::UpperLeft),
        &curves,
    )?;
    Ok(true)
}

fn validation(rows: &Rows, out: &Path) -> Result<bool, Box<dyn Error>> {
    let vp = series(rows, "host.validate_plan.", "");
    let inputs = series(rows, "host.copy_inputs.", "");
    let table = series(rows, "host.copy_table.", "");
    let decode = series(rows, "host.decode.", "");
    let validate = series(rows, "host.validate.", "");
    let writes = series(rows, "host.plan_output.", "");
    if vp.len() < 2 {
        return Ok(false);
    }
    let goal = inputs.iter().map(|&(n, v)| (n, 10.0 * v)).collect();
    let curves = [
        Curve { label: "validate + plan", color: RED, points: vp, dashed: false },
        Curve { label: "validate alone", color: MAGENTA, points: validate, dashed: false },
        Curve { label: "the plan's write list alone", color: CYAN, points: writes, dashed: false },
        Curve {
            label: "floor: copy every byte validation reads",
            color: BLUE,
            points: inputs,
            dashed: false,
        },
        Curve { label: "copy the table (16 B/entry)", color: GREEN, points: table, dashed: false },
        Curve {
            label: "decoding the entries alone",
            color: RGBColor(255, 140, 0),
            points: decode,
            dashed: false,
        },
        Curve { label: "goal: 10x the copy of the inputs", color: BLACK, points: goal, dashed: true },
    ];
    draw(
        &out.join("validation.svg"),
        "Validation cost against table size (host, criterion)",
        "entries",
        "ns per entry",
        (true, SeriesLabelPosition::LowerRight),
        &curves,
    )?;
    Ok(true)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, rows, out] = args.as_slice() else {
        eprintln!("usage: bench-plot ROWS OUT_DIR");
        std::process::exit(2);
    };
    let rows = parse(&std::fs::read_to_string(rows)?);
    let out = Path::new(out);
    std::fs::create_dir_all(out)?;
    for (name, drawn) in
        [("stop-window.svg", stop_window(&rows, out)?), ("validation.svg", validation(&rows, out)?)]
    {
        if drawn {
            println!("{}", out.join(name).display());
        } else {
            eprintln!("bench-plot: {name}: not enough rows, skipped");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_and_series_sort_by_size() {
        let rows = parse(
            "bench: host.validate_plan.1000 = 30.5 ns/entry\nbench: host.validate_plan.100 = 20 ns/entry\n\
             bench: linux.package = linux-image (Debian)\nnot a row\n",
        );
        assert_eq!(series(&rows, "host.validate_plan.", ""), [(100.0, 20.0), (1000.0, 30.5)]);
        assert!(!rows.contains_key("linux.package"));
    }
}
