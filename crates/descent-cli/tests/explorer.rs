//! The explorer's API (`descent serve`): the same numbers as the command line, and a server that stays up and
//! answers whatever it is sent.

mod common;

use common::server::Server;
use common::{fails, ok};
use serde_json::{json, Value};

/// The points of `descent run ARGS` as `[x, y, loss]` rows, read from its CSV.
fn run_points(args: &[&str]) -> Vec<[f64; 3]> {
    let mut command = vec!["run"];
    command.extend(args);
    ok(&command)
        .lines()
        .skip(1)
        .map(|line| {
            let v: Vec<f64> = line.split(',').skip(1).take(3).map(|x| x.parse().unwrap()).collect();
            [v[0], v[1], v[2]]
        })
        .collect()
}

fn points(run: &Value) -> Vec<[f64; 3]> {
    run["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let v: Vec<f64> = p.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            [v[0], v[1], v[2]]
        })
        .collect()
}

fn race(server: &Server, body: Value) -> Value {
    let response = server.post("/api/race", &body.to_string());
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

#[test]
fn races_give_the_numbers_of_descent_run() {
    let server = Server::start(&[]);
    assert!(server.banner.contains("http://127.0.0.1:"), "{}", server.banner);
    let answer = race(
        &server,
        json!({"function": "himmelblau", "start": [0, 0], "steps": 200, "optimizers": ["adam(lr=0.1)", "sgd"]}),
    );
    let runs = answer["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["optimizer"], "adam(lr=0.1)");
    let adam = run_points(&["-f", "himmelblau", "--start=0,0", "--steps", "200", "-o", "adam(lr=0.1)"]);
    assert_eq!(points(&runs[0]), adam, "bit for bit, the start first");
    assert_eq!(points(&runs[1]), run_points(&["-f", "himmelblau", "--start=0,0", "--steps", "200", "-o", "sgd"]));
    assert_eq!(runs[0]["nearest_minimum"]["point"], json!([3.0, 2.0]));
    assert_eq!(runs[0]["diverged"], false);
    assert_eq!(
        answer["command"],
        "descent race --function=himmelblau --start=0.0,0.0 --steps 200 -o 'adam(lr=0.1)' sgd"
    );

    // Noise, a schedule, f32 and an expression: still the numbers of `descent run`.
    let answer = race(
        &server,
        json!({"function": "x^2 - y^2 + 0.1*sin(3*x)", "start": [-1, 0.01], "steps": 50,
               "optimizers": ["momentum(lr=0.01)"], "noise": 0.5, "seed": 7,
               "lr_schedule": "cosine(T_max=50)", "dtype": "f32"}),
    );
    let expected = run_points(&[
        "-f",
        "x^2 - y^2 + 0.1*sin(3*x)",
        "--start=-1,0.01",
        "--steps",
        "50",
        "-o",
        "momentum(lr=0.01)",
        "--noise",
        "0.5",
        "--seed",
        "7",
        "--lr-schedule",
        "cosine(T_max=50)",
        "--dtype",
        "f32",
    ]);
    assert_eq!(points(&answer["runs"][0]), expected);
    assert_eq!(
        answer["command"],
        "descent race --function='x^2 - y^2 + 0.1*sin(3*x)' --start=-1.0,0.01 --steps 50 -o 'momentum(lr=0.01)' \
         --noise 0.5 --seed 7 --lr-schedule 'CosineAnnealingLR(T_max=50)' --dtype f32"
    );
    // The command it gives runs in a POSIX shell as it is, quoting and all.
    let binary = assert_cmd::cargo::cargo_bin("descent").display().to_string();
    let command = answer["command"].as_str().unwrap().replacen("descent", &binary, 1);
    let output = std::process::Command::new("sh").args(["-c", &command]).output().unwrap();
    assert!(output.status.success(), "{command}: {}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("momentum(lr=0.01)"));
}

#[test]
fn states_show_the_gradient_and_velocity_of_each_step() {
    let server = Server::start(&[]);
    // On the sphere the gradient at θ is 2θ; momentum's buffer is b ← 0.9·b + g.
    let answer = race(
        &server,
        json!({"function": "sphere", "start": [1.5, -1], "steps": 20,
               "optimizers": ["momentum(lr=0.05)", "rmsprop(lr=0.01)"], "states": true}),
    );
    let run = &answer["runs"][0];
    let pts = points(run);
    let states = run["states"].as_array().unwrap();
    assert_eq!(states.len(), 20);
    let mut buffer = [0.0f64; 2];
    for (k, state) in states.iter().enumerate() {
        let g = [2.0 * pts[k][0], 2.0 * pts[k][1]];
        assert_eq!(state["gradient"], json!(g), "step {}", k + 1);
        for i in 0..2 {
            buffer[i] = if k == 0 { g[i] } else { 0.9 * buffer[i] + g[i] };
        }
        assert_eq!(state["velocity"], json!({"name": "momentum_buffer", "values": buffer}));
        assert_eq!(state["step_size"], Value::Null);
    }
    // RMSprop after one step: E[g²] = (1 − α)·g², so the step size is η/(√E[g²] + ε).
    let first = &answer["runs"][1]["states"][0]["step_size"];
    for (i, g) in [3.0f64, 2.0].iter().enumerate() {
        let expected = 0.01 / (((1.0 - 0.99) * g * g).sqrt() + 1e-8);
        let got = first[i].as_f64().unwrap();
        assert!((got - expected).abs() <= 2.0 * f64::EPSILON * expected, "{got} vs {expected}");
    }
    // Without asking, no states.
    let answer = race(&server, json!({"function": "sphere", "steps": 5, "optimizers": ["sgd"]}));
    assert!(answer["runs"][0].get("states").is_none());
}

#[test]
fn the_catalog_lists_every_optimizer_and_surface_with_defaults_and_ranges() {
    let server = Server::start(&[]);
    let response = server.get("/api/catalog");
    assert_eq!(response.status, 200);
    let catalog = response.json();
    let optimizers = catalog["optimizers"].as_array().unwrap();
    assert_eq!(optimizers.len(), descent::catalog().len());
    for (entry, listed) in descent::catalog().iter().zip(optimizers) {
        assert_eq!(listed["name"], entry.name());
        let defaults = entry.defaults().hyperparameters();
        for control in listed["hyperparameters"].as_array().unwrap() {
            let name = control["name"].as_str().unwrap();
            assert_eq!(control["default"], defaults[name], "{} {name}", entry.name());
            if let (Some(min), Some(max)) = (control["min"].as_f64(), control["max"].as_f64()) {
                assert!(min < max, "{} {name}", entry.name());
                // Every default is a value its control can show.
                let defaults: Vec<f64> = match &control["default"] {
                    Value::Array(items) => items.iter().map(|v| v.as_f64().unwrap()).collect(),
                    value => vec![value.as_f64().unwrap()],
                };
                for value in defaults {
                    assert!((min..=max).contains(&value), "{} {name} = {value}", entry.name());
                }
            }
        }
    }
    let adam = optimizers.iter().find(|o| o["name"] == "adam").unwrap();
    let lr = &adam["hyperparameters"][0];
    assert_eq!((lr["name"].as_str(), lr["scale"].as_str()), (Some("lr"), Some("log")));
    let surfaces = catalog["surfaces"].as_array().unwrap();
    let himmelblau = surfaces.iter().find(|s| s["name"] == "himmelblau").unwrap();
    let minima = himmelblau["critical_points"].as_array().unwrap().iter().filter(|c| c["kind"] == "global minimum");
    assert_eq!(minima.count(), 4);
    assert_eq!(catalog["palette"][0], "#d55e00");
}

#[test]
fn tuning_chooses_the_learning_rate_descent_race_tune_chooses() {
    let server = Server::start(&[]);
    let response = server.post(
        "/api/tune",
        &json!({"function": "rosenbrock", "start": [-1, 1], "steps": 100, "optimizers": ["adam"]}).to_string(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let tuned = response.json();
    let report: Value = serde_json::from_str(&ok(&[
        "race",
        "-f",
        "rosenbrock",
        "--start=-1,1",
        "--steps",
        "100",
        "-o",
        "adam",
        "--tune",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(tuned["runs"][0]["spec"], report[0]["spec"]);
    assert_eq!(tuned["runs"][0]["final_loss"], report[0]["final_loss"]);
}

#[test]
fn pictures_and_maps_are_drawn() {
    let server = Server::start(&[]);
    let body = json!({"function": "booth", "steps": 30, "optimizers": ["adam(lr=0.5)"]}).to_string();
    let svg = server.post("/api/picture?format=svg", &body);
    assert_eq!(svg.status, 200);
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    let document = svg.text();
    let tree = roxmltree::Document::parse(&document).unwrap();
    assert_eq!(tree.root_element().tag_name().name(), "svg");
    assert!(document.contains("adam(lr=0.5)"), "the legend names the optimizer");
    let png = server.post("/api/picture?format=png", &body);
    let decoder = png::Decoder::new(std::io::Cursor::new(png.body));
    let info = decoder.read_info().unwrap();
    assert_eq!((info.info().width, info.info().height), (960, 780));

    let map = server.get("/api/map?function=x%5E2%20-%20y%5E2&width=120&height=90");
    assert_eq!(map.status, 200);
    let mut reader = png::Decoder::new(std::io::Cursor::new(map.body)).read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (120, 90));
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut pixels).unwrap();
    // x² − y² is highest at the left and right edges' middles and lowest at the top and bottom ones: the colour
    // scale (viridis) runs from dark to bright.
    let brightness = |col: usize, row: usize| {
        let i = 3 * (row * 120 + col);
        pixels[i] as u32 + pixels[i + 1] as u32 + pixels[i + 2] as u32
    };
    assert!(brightness(2, 45) > brightness(60, 2) + 200);
    assert!(brightness(117, 45) > brightness(60, 87) + 200);

    let surface = server.get("/api/surface?function=saddle").json();
    assert_eq!(surface["critical_points"][0]["kind"], "saddle");
}

#[test]
fn the_page_and_its_assets_are_served() {
    let server = Server::start(&[]);
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.header("content-security-policy").unwrap().contains("default-src 'self'"));
    assert!(page.text().contains("<script src=\"/app.js\""));
    assert!(server.get("/app.js").text().contains("/api/race"));
    assert_eq!(server.get("/style.css").status, 200);
}

/// A normal request, which must succeed after every hostile one.
fn still_answers(server: &Server) {
    let response = server.post("/api/race", r#"{"function": "booth", "steps": 10, "optimizers": ["sgd"]}"#);
    assert_eq!(response.status, 200, "{}", response.text());
}

/// Checks that `body` posted to the race endpoint is refused with `status` and an error naming `message`.
fn refused(server: &Server, body: &str, status: u16, message: &str) {
    let response = server.post("/api/race", body);
    assert_eq!(response.status, status, "{}: {}", &body[..body.len().min(80)], response.text());
    let error = response.error();
    assert!(error.contains(message), "{}: {error:?} does not say {message:?}", &body[..body.len().min(80)]);
    still_answers(server);
}

#[test]
fn hostile_requests_get_clear_errors_and_the_server_stays_up() {
    let server = Server::start(&[]);
    refused(&server, "{not json", 400, "invalid request");
    refused(&server, "", 400, "invalid request");
    refused(&server, r#"{"function": "booth", "start": [NaN, 0]}"#, 400, "invalid request");
    refused(&server, r#"{"function": "booth", "start": [1e400, 0]}"#, 400, "invalid request");
    refused(&server, r#"{"function": "booth", "steps": 1000000000000}"#, 400, "steps = 1000000000000 is out of range");
    refused(&server, r#"{"function": "booth", "steps": -1}"#, 400, "invalid request");
    refused(&server, r#"{"function": "booth", "steps": 0}"#, 400, "out of range");
    refused(&server, r#"{"function": "booth", "stpes": 10}"#, 400, "unknown field `stpes`");
    refused(&server, r#"{"function": "booth", "start": [1, 2, 3]}"#, 400, "start has 3 coordinates");
    refused(&server, r#"{"function": "booth", "noise": -1}"#, 400, "invalid noise");
    refused(
        &server,
        r#"{"function": "booth", "optimizers": ["adam"], "lr_schedule": "onecycle(max_lr=0.1, total_steps=5)", "steps": 10}"#,
        400,
        "total_steps",
    );
    refused(&server, r#"{"function": "nope"}"#, 400, "unknown function \"nope\"");
    refused(&server, r#"{"function": "booth", "optimizers": ["adam(lr=-1)"]}"#, 400, "lr");
    refused(&server, r#"{"function": "booth", "optimizers": ["bogus"]}"#, 400, "unknown optimizer");
    refused(&server, r#"{"function": "booth", "dtype": "f16"}"#, 400, "unknown dtype");
    refused(&server, &json!({"function": "booth", "optimizers": vec!["sgd"; 17]}).to_string(), 400, "17 optimizers");
    refused(
        &server,
        &json!({"function": "booth", "steps": 100000, "optimizers": vec!["sgd"; 5]}).to_string(),
        400,
        "at most 400000",
    );
    refused(
        &server,
        &json!({"function": "booth", "steps": 60000, "optimizers": ["sgd", "adam"], "states": true}).to_string(),
        400,
        "at most 100000 with states",
    );
    refused(&server, &json!({"function": format!("x{}", "+x".repeat(5000))}).to_string(), 400, "too long");
    refused(
        &server,
        &json!({"function": format!("{}x{}", "(".repeat(100), ")".repeat(100))}).to_string(),
        400,
        "nested",
    );
    refused(
        &server,
        &json!({"function": "booth", "optimizers": [format!("sgd(lr=0.1{})", "0".repeat(2000))]}).to_string(),
        400,
        "at most 1000",
    );
    // The messages are the command line's.
    fails(
        &["run", "-f", "booth", "-o", "bogus"],
        &server.post("/api/race", r#"{"function": "booth", "optimizers": ["bogus"]}"#).error(),
    );

    // A huge exponent: the run diverges or stays put, and says so.
    let answer = race(&server, json!({"function": "x^1e9", "start": [1.5, 0], "steps": 10, "optimizers": ["sgd"]}));
    assert_eq!(answer["runs"][0]["diverged"], true);
    let map = server.get("/api/map?function=x%5E1e9");
    assert_eq!(map.status, 200);
    still_answers(&server);

    // Too large a body: 413, before it is read.
    let big = format!(r#"{{"function": "booth", "pad": "{}"}}"#, "a".repeat(100_000));
    let response = server.post("/api/race", &big);
    assert_eq!(response.status, 413, "{}", response.text());
    assert!(response.error().contains("length limit"), "{}", response.error());
    still_answers(&server);

    // Unknown places, wrong methods, bad queries.
    assert_eq!(server.get("/etc/passwd").status, 404);
    assert_eq!(server.get("/../../etc/passwd").status, 404);
    assert_eq!(server.get("/api/race").status, 405);
    assert!(server.get("/api/race").error().contains("does not take that method"));
    assert_eq!(server.post("/api/catalog", "{}").status, 405);
    assert_eq!(
        server.get("/api/map?function=booth&width=100000").error(),
        "width = \"100000\" is not a size from 16 to 1024 pixels"
    );
    assert!(server.get("/api/surface").error().contains("missing ?function"));
    assert!(server.post("/api/picture?format=gif", "{}").error().contains("expected svg or png"));
    let garbage = server.raw(b"GARBAGE\r\n\r\n");
    assert_eq!(garbage.status, 400);
    still_answers(&server);
}

#[test]
fn a_request_that_computes_too_long_stops_at_the_time_limit() {
    let server = Server::start(&["--time-limit", "0.05"]);
    let expression = format!("x^2 + y^2{}", " + 0.001*sin(x*y)".repeat(100));
    let body = json!({"function": expression, "steps": 100000, "optimizers": ["sgd", "adam", "rmsprop", "adagrad"]});
    let response = server.post("/api/race", &body.to_string());
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(response.error().contains("took too long"), "{}", response.error());
    // Drawing stops at the limit as well: a map of the largest size of a long expression (seconds of work), and
    // the picture of a short race on it.
    let long = format!("x^2 + y^2{}", " + 0.001*sin(x*y)*exp(cos(x))".repeat(140));
    let encoded = long.replace(' ', "%20").replace('^', "%5E").replace('+', "%2B").replace('*', "%2A");
    let query = format!("/api/map?function={encoded}&width=1024&height=1024");
    let started = std::time::Instant::now();
    let map = server.get(&query);
    assert_eq!(map.status, 400, "{}", map.text());
    assert!(map.error().contains("drawing the map took too long"), "{}", map.error());
    let picture = server.post("/api/picture?format=png", &json!({"function": long, "steps": 3}).to_string());
    assert_eq!(picture.status, 400, "{}", picture.text());
    assert!(picture.error().contains("took too long"), "{}", picture.error());
    // Both answered within a fraction of the seconds their drawing takes without a limit.
    assert!(started.elapsed().as_secs_f64() < 2.0, "{:?}", started.elapsed());
    still_answers(&server);
}

#[test]
fn excess_concurrent_requests_are_refused_at_once_and_the_server_stays_up() {
    let server = Server::start(&["--concurrent", "2"]);
    let body = json!({"function": "rosenbrock", "steps": 100000, "optimizers": ["adam", "sgd", "rmsprop", "nadam"]})
        .to_string();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50).map(|_| scope.spawn(|| server.post("/api/race", &body))).collect();
        handles
            .into_iter()
            .map(|h| {
                let response = h.join().unwrap();
                if response.status == 503 {
                    assert_eq!(response.header("retry-after"), Some("1"));
                    assert!(response.error().contains("busy"));
                }
                response.status
            })
            .collect()
    });
    assert!(statuses.iter().all(|s| *s == 200 || *s == 503), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(statuses.contains(&503), "{statuses:?}");
    still_answers(&server);
}

#[test]
fn listening_beyond_this_machine_is_said_aloud() {
    let server = Server::start(&["--host", "0.0.0.0"]);
    assert!(server.banner.contains("http://0.0.0.0:"), "{}", server.banner);
    fails(&["serve", "--time-limit", "0"], "seconds");
}
