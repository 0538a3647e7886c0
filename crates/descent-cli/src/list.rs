//! `descent list`: the optimizers with their defaults, the schedulers, and the surfaces with their critical points.

use std::io::Write;

use clap::{Args, ValueEnum};
use descent::schedule::schedulers;
use descent::{catalog, Shape, StateLayout};
use descent_landscape::{surfaces, Surface};

use crate::error::CliError;
use crate::numbers::{human, wrap};

/// The width `descent list` keeps to: a standard terminal's.
const WIDTH: usize = 80;

/// Arguments of `descent list`.
#[derive(Debug, Args)]
pub struct ListCommand {
    /// text: optimizers with their defaults, schedulers, and surfaces with their critical points; markdown: the
    /// optimizers and the schedulers as the tables in the README.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    format: ListFormat,
}

/// How `descent list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListFormat {
    Text,
    Markdown,
}

/// Prints the optimizers and the surfaces.
pub fn execute(command: &ListCommand, out: &mut dyn Write) -> Result<(), CliError> {
    if command.format == ListFormat::Markdown {
        return markdown(out);
    }
    writeln!(out, "Optimizers (write NAME or NAME(key=value, ...); unset keys take these defaults):\n")?;
    for entry in catalog() {
        let aliases = if entry.alias_names().is_empty() {
            String::new()
        } else {
            format!(" (also: {})", entry.alias_names().join(", "))
        };
        writeln!(out, "{}", wrap(&format!("{}{aliases}: {}", entry.name(), entry.summary()), WIDTH, 2, 6))?;
        writeln!(out, "{}", wrap(&format!("{:#}", entry.defaults()), WIDTH, 6, 10))?;
    }
    writeln!(
        out,
        "\nLearning-rate schedulers (--lr-schedule SPEC, or descent schedule SPEC;\ncompose them as A * B and A until N then B):\n"
    )?;
    for entry in schedulers() {
        let line = format!("{} (also: {}): {}", entry.class(), entry.aliases().join(", "), entry.summary());
        writeln!(out, "{}", wrap(&line, WIDTH, 2, 6))?;
    }
    writeln!(out, "\nSurfaces (--function NAME, or an expression in x and y such as 'x^2 - y^2'):\n")?;
    for def in surfaces::all() {
        let surface = surfaces::by_name(def.name, 2).expect("every surface is defined in two dimensions");
        let domain = def.domain;
        writeln!(out, "{}", wrap(&format!("{}: {}", def.name, def.summary), WIDTH, 2, 6))?;
        writeln!(out, "{}", wrap(&format!("J = {}", def.formula), WIDTH, 6, 10))?;
        if let Some(plane) = def.formula_2d {
            writeln!(out, "{}", wrap(&format!("in 2-D: {plane}"), WIDTH, 6, 10))?;
        }
        let (x, y) = (domain.x, domain.y);
        let place = format!("dimensions {}; plotted on [{}, {}] × [{}, {}]", def.dims.describe(), x.0, x.1, y.0, y.1);
        writeln!(out, "{}", wrap(&place, WIDTH, 6, 10))?;
        for point in surface.critical_points() {
            let coordinates: Vec<String> = point.point.iter().map(|v| human(*v)).collect();
            // Short enough for one line: four significant digits per coordinate, at most two coordinates.
            writeln!(out, "      {:<15} ({}), J = {}", point.kind.label(), coordinates.join(", "), human(point.value))?;
        }
    }
    Ok(())
}

/// A state layout's names in Markdown: `` `step`, `exp_avg` ``, or "none".
fn describe(layout: &StateLayout) -> String {
    let mut state: Vec<String> = Vec::new();
    if layout.counts_steps() {
        state.push("`step`".into());
    }
    state.extend(layout.names().iter().chain(&layout.scalar_names()).map(|n| format!("`{n}`")));
    if state.is_empty() {
        "none".to_owned()
    } else {
        state.join(", ")
    }
}

/// The optimizers, then the schedulers, as Markdown tables from the registries: the README's tables.
fn markdown(out: &mut dyn Write) -> Result<(), CliError> {
    optimizers_markdown(out)?;
    writeln!(out)?;
    writeln!(out, "| scheduler | also | what it does |")?;
    writeln!(out, "|---|---|---|")?;
    for entry in schedulers() {
        let aliases: Vec<String> = entry.aliases().iter().map(|a| format!("`{a}`")).collect();
        writeln!(out, "| `{}` | {} | {} |", entry.class(), aliases.join(", "), entry.summary())?;
    }
    Ok(())
}

/// The optimizers as a Markdown table, from the registry.
fn optimizers_markdown(out: &mut dyn Write) -> Result<(), CliError> {
    writeln!(out, "| spec | what it is | type | PyTorch | state (with the defaults) |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    for entry in catalog() {
        let mut names = vec![format!("`{}`", entry.name())];
        names.extend(entry.alias_names().iter().map(|a| format!("`{a}`")));
        let defaults = entry.defaults();
        let shared = defaults.shared_state();
        let own = match (defaults.layout(&Shape::from(1)), defaults.layout(&Shape::from([2, 2]))) {
            (Ok(vector), Ok(matrix)) if vector == matrix => describe(&vector),
            (Ok(vector), Ok(matrix)) => format!("{}; for matrices {}", describe(&vector), describe(&matrix)),
            (Err(_), Ok(matrix)) => format!("{} (matrices only)", describe(&matrix)),
            (Ok(vector), Err(_)) => describe(&vector),
            (Err(e), Err(_)) => return Err(CliError::Usage(e.to_string())),
        };
        let state = match shared.is_empty() {
            true => own,
            false => {
                let names: Vec<String> = shared.iter().map(|n| format!("`{n}`")).collect();
                let together = format!("for all parameters together: {}", names.join(", "));
                if own == "none" {
                    together
                } else {
                    format!("{own}; {together}")
                }
            }
        };
        let torch = entry.torch_class().map_or("(none)".to_owned(), |c| format!("`{c}`"));
        let rust = entry.defaults().type_name();
        writeln!(out, "| {} | {} | `{rust}` | {torch} | {state} |", names.join(", "), entry.summary())?;
    }
    Ok(())
}
