//! `descent list`: the optimizers with their defaults, the schedulers, and the surfaces with their critical points.

use std::io::Write;

use clap::{Args, ValueEnum};
use descent::schedule::schedulers;
use descent::{catalog, Shape, StateLayout};
use descent_landscape::{surfaces, Surface};

use crate::error::CliError;

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
        writeln!(out, "  {}{aliases}: {}", entry.name(), entry.summary())?;
        writeln!(out, "      {:#}", entry.defaults())?;
    }
    writeln!(
        out,
        "\nLearning-rate schedulers (--lr-schedule SPEC, descent schedule SPEC; compose with * and 'until N then'):\n"
    )?;
    for entry in schedulers() {
        writeln!(out, "  {} (also: {}): {}", entry.class(), entry.aliases().join(", "), entry.summary())?;
    }
    writeln!(out, "\nSurfaces (--function NAME, or an expression in x and y such as 'x^2 - y^2'):\n")?;
    for def in surfaces::all() {
        let surface = surfaces::by_name(def.name, 2).expect("every surface is defined in two dimensions");
        let domain = def.domain;
        writeln!(out, "  {}: {}", def.name, def.summary)?;
        let plane = def.formula_2d.map(|f| format!("; in 2-D: {f}")).unwrap_or_default();
        writeln!(
            out,
            "      J = {}{plane}   (dimensions {}; plotted on [{}, {}] × [{}, {}])",
            def.formula,
            def.dims.describe(),
            domain.x.0,
            domain.x.1,
            domain.y.0,
            domain.y.1
        )?;
        for point in surface.critical_points() {
            let coordinates: Vec<String> = point.point.iter().map(|v| format!("{v:.6}")).collect();
            writeln!(out, "      {:<15} ({}) → {:.6}", point.kind.label(), coordinates.join(", "), point.value)?;
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
        let state = match (defaults.layout(&Shape::from(1)), defaults.layout(&Shape::from([2, 2]))) {
            _ if !shared.is_empty() => {
                let names: Vec<String> = shared.iter().map(|n| format!("`{n}`")).collect();
                format!("for all parameters together: {}", names.join(", "))
            }
            (Ok(vector), Ok(matrix)) if vector == matrix => describe(&vector),
            (Ok(vector), Ok(matrix)) => format!("{}; for matrices {}", describe(&vector), describe(&matrix)),
            (Err(_), Ok(matrix)) => format!("{} (matrices only)", describe(&matrix)),
            (Ok(vector), Err(_)) => describe(&vector),
            (Err(e), Err(_)) => return Err(CliError::Usage(e.to_string())),
        };
        let torch = entry.torch_class().map_or("(none)".to_owned(), |c| format!("`{c}`"));
        let rust = entry.defaults().type_name();
        writeln!(out, "| {} | {} | `{rust}` | {torch} | {state} |", names.join(", "), entry.summary())?;
    }
    Ok(())
}
