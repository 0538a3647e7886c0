//! The API's handlers. Computations run on blocking threads, each holding one of the explorer's permits until
//! it ends (even if its client has gone), so that no more than the permits compute at once.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use descent_landscape::{distance, Outcome, Surface};
use serde_json::{json, Value};

use super::catalog;
use super::race_request::{Race, RaceRequest};
use super::time_limited::TimeLimited;
use super::{ApiError, Explorer, MAX_MAP_SIDE};
use crate::function;
use crate::plot::{self, Scene};

/// `GET /api/catalog`.
pub async fn catalog() -> Json<Value> {
    Json(catalog::catalog())
}

/// Runs `work` on a blocking thread if a permit is free; 503 at once if not.
async fn compute<T: Send + 'static>(
    explorer: &Explorer,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let permit = explorer.computations.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the explorer is busy with other computations; try again")
    })?;
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(permit);
        result
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the computation failed: {e}")))?
}

/// The request body, or the reason it was refused (too large: 413).
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))
}

/// The surface the query's `function` names.
fn queried_surface(query: &HashMap<String, String>) -> Result<Box<dyn Surface>, ApiError> {
    let text = query.get("function").ok_or_else(|| ApiError::bad("missing ?function=NAME or an expression"))?;
    let (surface, _) = function::resolve(text, None, Some(2)).map_err(ApiError::bad)?;
    Ok(surface)
}

/// `GET /api/surface?function=F`: the surface's name, formula, domain, start and critical points, or why `F` is
/// not one (the page checks expressions as they are typed).
pub async fn surface(Query(query): Query<HashMap<String, String>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(catalog::surface(queried_surface(&query)?.as_ref())))
}

/// `GET /api/map?function=F&width=W&height=H`: the contour map as a PNG image spanning the surface's domain.
pub async fn map(
    State(explorer): State<Explorer>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let surface = queried_surface(&query)?;
    let side = |key: &str| -> Result<u32, ApiError> {
        let text = query.get(key).map_or("480", String::as_str);
        match text.parse::<u32>() {
            Ok(n) if (16..=MAX_MAP_SIDE).contains(&n) => Ok(n),
            _ => Err(ApiError::bad(format!("{key} = {text:?} is not a size from 16 to {MAX_MAP_SIDE} pixels"))),
        }
    };
    let size = (side("width")?, side("height")?);
    let time_limit = explorer.time_limit;
    let png = compute(&explorer, move || {
        let limited = TimeLimited::new(surface.as_ref(), Instant::now() + time_limit);
        let png = plot::map_png(&limited, size).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
        limited.finish(png, "map")
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "max-age=3600")], png).into_response())
}

/// `POST /api/race`: every optimizer's run, with the numbers of `descent run`.
pub async fn race(
    State(explorer): State<Explorer>,
    request: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request = RaceRequest::parse(&body(request)?)?;
    let states = request.states;
    let time_limit = explorer.time_limit;
    let answer = compute(&explorer, move || {
        let race = request.check(time_limit)?;
        let outcomes = run_all(&race)?;
        Ok(json!({
            "function": race.surface.name(),
            "formula": race.surface.formula(),
            "start": race.config.start,
            "steps": race.config.steps,
            "command": race.command(),
            "runs": outcomes.iter().map(|o| run_json(race.surface.as_ref(), o, race.tolerance, states)).collect::<Vec<_>>(),
        }))
    })
    .await?;
    Ok(Json(answer))
}

fn run_all(race: &Race) -> Result<Vec<Outcome>, ApiError> {
    descent_landscape::race(race.surface.as_ref(), &race.entrants, &race.config, race.tolerance).map_err(ApiError::bad)
}

/// One run: its points `[x, y, loss]` from the start, and how it did.
fn run_json(surface: &dyn Surface, outcome: &Outcome, tolerance: f64, states: bool) -> Value {
    let trajectory = &outcome.trajectory;
    let summary = &outcome.summary;
    let minima = surface.minima();
    let points: Vec<[f64; 3]> =
        trajectory.points.iter().zip(&trajectory.losses).map(|(p, loss)| [p[0], p[1], *loss]).collect();
    let distances: Option<Vec<f64>> = (!minima.is_empty()).then(|| {
        trajectory
            .points
            .iter()
            .map(|p| minima.iter().map(|m| distance(&m.point, p)).fold(f64::INFINITY, f64::min))
            .collect()
    });
    let mut run = json!({
        "optimizer": outcome.entrant.label,
        "spec": outcome.entrant.spec.to_string(),
        "class": outcome.entrant.spec.class(),
        "hyperparameters": outcome.entrant.spec.hyperparameters(),
        "points": points,
        "lrs": trajectory.lrs,
        "diverged": summary.diverged,
        "final_loss": summary.final_loss,
        "nearest_minimum": summary.nearest.as_ref().map(|(m, _)| json!({
            "point": m.point, "value": m.value, "kind": m.kind.label(),
        })),
        "distance": summary.nearest.as_ref().map(|(_, d)| d),
        "distances": distances,
        "reached": summary.reached(tolerance),
        "reached_at": summary.reached_at,
        "ended_at": summary.ended_at.as_ref().map(|p| json!({
            "point": p.point, "value": p.value, "kind": p.kind.label(),
        })),
    });
    if states {
        run["states"] = trajectory
            .states
            .iter()
            .map(|s| {
                json!({
                    "gradient": s.gradient,
                    "velocity": s.velocity.as_ref().map(|(name, values)| json!({"name": name, "values": values})),
                    "step_size": s.step_size,
                })
            })
            .collect();
    }
    run
}

/// `POST /api/tune`: each optimizer's learning rate chosen as `descent race --tune` chooses it.
pub async fn tune(
    State(explorer): State<Explorer>,
    request: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request = RaceRequest::parse(&body(request)?)?;
    let time_limit = explorer.time_limit;
    let answer = compute(&explorer, move || {
        let race = request.check(time_limit)?;
        let grid = descent_landscape::default_grid();
        let tuned: Vec<Value> = race
            .entrants
            .iter()
            .map(|entrant| {
                let tuned = descent_landscape::tune(race.surface.as_ref(), &entrant.spec, &race.config, &grid, &|| {})
                    .map_err(ApiError::bad)?;
                Ok(json!({
                    "optimizer": entrant.label,
                    "spec": tuned.spec.to_string(),
                    "lr": tuned.spec.lr(),
                    "final_loss": tuned.score,
                }))
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(json!({"runs": tuned}))
    })
    .await?;
    Ok(Json(answer))
}

/// `POST /api/picture?format=svg|png`: the picture `descent race --plot` draws of the same race.
pub async fn picture(
    State(explorer): State<Explorer>,
    Query(query): Query<HashMap<String, String>>,
    request: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let format = query.get("format").map_or("svg", String::as_str).to_owned();
    if format != "svg" && format != "png" {
        return Err(ApiError::bad(format!("format = {format:?}: expected svg or png")));
    }
    let request = RaceRequest::parse(&body(request)?)?;
    let time_limit = explorer.time_limit;
    let (bytes, content_type) = compute(&explorer, move || {
        let race = request.check(time_limit)?;
        let outcomes = run_all(&race)?;
        // The drawing ends by the race's deadline too.
        let deadline = race.config.deadline.unwrap_or_else(|| Instant::now() + time_limit);
        let limited = TimeLimited::new(race.surface.as_ref(), deadline);
        let scene = Scene {
            surface: &limited,
            start: &race.config.start,
            outcomes: &outcomes,
            schedule: race.config.schedule.is_some(),
            story: None,
        };
        let failed = |e: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e);
        let drawn = match format.as_str() {
            "svg" => (plot::svg(&scene).map_err(failed)?.into_bytes(), "image/svg+xml"),
            _ => (plot::png(&scene).map_err(failed)?, "image/png"),
        };
        limited.finish(drawn, "picture")
    })
    .await?;
    let disposition =
        format!("attachment; filename=\"race.{}\"", if content_type == "image/png" { "png" } else { "svg" });
    Ok(([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response())
}
