//! `descent list`: the optimizers with their defaults, and the surfaces with their critical points.

use std::io::Write;

use descent::catalog;
use descent_landscape::{surfaces, Surface};

use crate::error::CliError;

/// Prints the optimizers and the surfaces.
pub fn execute(out: &mut dyn Write) -> Result<(), CliError> {
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
