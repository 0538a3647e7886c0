//! The explorer in a real browser: headless Chromium, driven through WebDriver by Debian's chromedriver.
//!
//! These tests need the `chromium` and `chromium-driver` packages, so they are ignored by the plain test command;
//! run them with `cargo test --workspace --release --test browser -- --ignored --test-threads=1` (the README's
//! browser command; CI runs it). Each one serves the explorer, starts chromedriver on a free port and opens the
//! page at 1280×800.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::server::Server;
use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// The page, open in a browser.
struct Browser {
    client: Client,
    driver: Child,
    server: Server,
    /// The browser's profile, removed when the test ends (after the browser: fields drop in order, after `drop`).
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver leads a process group of its own, which the browser it starts joins: signalling the group
        // stops them all, so that no browser outlives a test that fails before `close`.
        if let Ok(group) = i32::try_from(self.driver.id()) {
            // SAFETY: kill(2) only sends a signal; a negative pid names the process group.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Opens the explorer (at `fragment`, a URL fragment that sets the view) and waits for its first race.
async fn open(fragment: &str) -> Browser {
    open_served(&[], fragment).await
}

/// [`open`], with the server started with `args`.
async fn open_served(args: &[&str], fragment: &str) -> Browser {
    let server = Server::start(args);
    let port = free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (Debian's chromium-driver package)");
    let profile = tempfile::tempdir().unwrap();
    let mut capabilities = Capabilities::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--window-size=1280,800", "--force-device-scale-factor=1",
            format!("--user-data-dir={}", profile.path().display()),
        ]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = loop {
        match ClientBuilder::new(connector.clone())
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => break client,
            Err(e) if Instant::now() > deadline => panic!("chromedriver did not start: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let browser = Browser { client, driver, server, _profile: profile };
    browser.client.goto(&format!("{}{fragment}", browser.server.url())).await.unwrap();
    browser.wait_for("explorer.races >= 1").await;
    browser
}

impl Browser {
    /// Ends the WebDriver session, so that chromedriver closes the browser and removes its profile.
    async fn close(self) {
        self.client.clone().close().await.unwrap();
    }

    async fn eval(&self, expression: &str) -> Value {
        self.client.execute(&format!("return {expression};"), vec![]).await.unwrap()
    }

    /// Waits (up to 30 s) until `condition`, a JavaScript expression, is true.
    async fn wait_for(&self, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        // The page's script may not have run yet.
        let ready = format!("typeof explorer !== 'undefined' && Boolean({condition})");
        while self.eval(&ready).await != json!(true) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {condition}; run error: {}",
                self.eval("explorer.error").await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the race after the `before`-th, and for the page to have drawn it.
    async fn wait_for_race_after(&self, before: &Value) {
        self.wait_for(&format!("explorer.races > {before}")).await;
    }

    async fn races(&self) -> Value {
        self.eval("explorer.races").await
    }

    /// The browser's console messages since the last call.
    async fn console(&self) -> Vec<Value> {
        let answer = self.client.issue_cmd(BrowserLog).await.unwrap();
        answer.as_array().cloned().unwrap_or_default()
    }
}

/// Chromedriver's command for the browser's console log.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

/// Clicks the element at (`x`, `y`) pixels from its centre.
async fn click_at(client: &Client, element: &fantoccini::elements::Element, x: f64, y: f64) {
    let actions = MouseActions::new("mouse".to_owned())
        .then(PointerAction::MoveToElement { element: element.clone(), duration: None, x, y })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    client.perform_actions(actions).await.unwrap();
    client.release_actions().await.unwrap();
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver: see the README's browser command"]
async fn the_page_loads_without_console_errors_at_desktop_and_phone_widths() {
    let browser = open("").await;
    assert_eq!(browser.eval("explorer.runs.length").await, json!(4));
    assert_eq!(browser.eval("document.getElementById('run-error').hidden").await, json!(true));
    browser.wait_for("explorer.map !== null && explorer.map.startsWith('himmelblau@')").await;
    assert_eq!(browser.eval("document.getElementById('map-error').hidden").await, json!(true));
    let severe: Vec<Value> = browser.console().await.into_iter().filter(|m| m["level"] != "INFO").collect();
    assert!(severe.is_empty(), "console: {severe:?}");
    // Nothing wider than a phone's screen.
    browser.client.set_window_size(390, 844).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let overflow = browser.eval("document.documentElement.scrollWidth - window.innerWidth").await;
    assert!(overflow.as_f64().unwrap() <= 0.0, "the page scrolls sideways on a phone, by {overflow} px");
    let severe: Vec<Value> = browser.console().await.into_iter().filter(|m| m["level"] != "INFO").collect();
    assert!(severe.is_empty(), "console: {severe:?}");
    // Runs that diverge, one to a point that is not a number (√x left of 0), one to huge values, with their states
    // shown: still no error.
    let diverging = "#f=sqrt(x)%2By%5E2&start=-1,1&steps=50&o=adam&o=sgd(lr=10)";
    browser.client.goto(&format!("{}{diverging}", browser.server.url())).await.unwrap();
    browser.client.refresh().await.unwrap();
    browser.wait_for("explorer.races >= 1 && explorer.runs.length === 2").await;
    assert_eq!(browser.eval("explorer.runs.map(r => r.diverged)").await, json!([true, true]));
    assert_eq!(browser.eval("explorer.runs[0].points[1][0]").await, Value::Null);
    browser.client.execute("document.getElementById('back').click()", vec![]).await.unwrap();
    browser.wait_for("explorer.shown === 49").await;
    let severe: Vec<Value> = browser.console().await.into_iter().filter(|m| m["level"] != "INFO").collect();
    assert!(severe.is_empty(), "console: {severe:?}");
    // The console is really read: an error logged now is seen.
    browser.client.execute("console.error('a probe')", vec![]).await.unwrap();
    let seen = browser.console().await;
    assert!(
        seen.iter().any(|m| m["level"] == "SEVERE" && m["message"].as_str().unwrap().contains("a probe")),
        "{seen:?}"
    );
    browser.close().await;
}

/// A map the server will not draw in its time limit (a long expression, 0.2 s) says why under the map, while the
/// short race on it still runs.
#[tokio::test]
#[ignore = "needs chromium and chromedriver: see the README's browser command"]
async fn a_map_that_cannot_be_drawn_says_why() {
    let expression = format!("x^2 + y^2{}", " + 0.001*sin(x*y)*exp(cos(x))".repeat(140));
    let fragment = format!("#f={}&steps=5&o=adam", urlencoding_of(&expression));
    let browser = open_served(&["--time-limit", "0.2"], &fragment).await;
    browser.wait_for("!document.getElementById('map-error').hidden").await;
    let error = browser.client.find(Locator::Id("map-error")).await.unwrap().text().await.unwrap();
    assert!(error.contains("drawing the map took too long"), "{error}");
    assert_eq!(browser.eval("explorer.map").await, Value::Null);
    assert_eq!(browser.eval("explorer.runs.length").await, json!(1));
    // The refused map is not asked for again as the page redraws (playing the race redraws every frame).
    let asked = "performance.getEntriesByType('resource').filter(e => e.name.includes('/api/map')).length";
    let before = browser.eval(asked).await;
    browser.client.execute("document.getElementById('play').click()", vec![]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(browser.eval(asked).await, before);
    browser.close().await;
}

/// `text` as a URL's fragment holds it (the characters of expressions that a URL reserves, escaped).
fn urlencoding_of(text: &str) -> String {
    text.replace('%', "%25").replace(' ', "%20").replace('+', "%2B").replace('^', "%5E").replace('*', "%2A")
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver: see the README's browser command"]
async fn clicking_the_map_sets_the_start_and_the_trajectories_follow() {
    let browser = open("").await;
    let before = browser.eval("explorer.runs.map(r => r.points[0])").await;
    let races = browser.races().await;
    let map = browser.client.find(Locator::Id("map")).await.unwrap();
    // The whole map in view, so that its visible centre is its centre.
    browser.client.execute("document.getElementById('map').scrollIntoView({block: 'center'})", vec![]).await.unwrap();
    click_at(&browser.client, &map, 120.0, -150.0).await;
    browser.wait_for_race_after(&races).await;
    let after = browser.eval("explorer.runs.map(r => r.points[0])").await;
    assert_ne!(before, after, "the trajectories start elsewhere");
    // Where the click was, in the surface's coordinates: 120 px right of and 150 px above the map's centre.
    let geometry = browser
        .eval("[document.getElementById('map').getBoundingClientRect().width, explorer.surface.domain, explorer.start]")
        .await;
    let width = geometry[0].as_f64().unwrap();
    let (x, y) = (&geometry[1]["x"], &geometry[1]["y"]);
    let span = x[1].as_f64().unwrap() - x[0].as_f64().unwrap();
    let expected = [
        (x[0].as_f64().unwrap() + x[1].as_f64().unwrap()) / 2.0 + 120.0 / width * span,
        (y[0].as_f64().unwrap() + y[1].as_f64().unwrap()) / 2.0 + 150.0 / width * span,
    ];
    for (i, e) in expected.iter().enumerate() {
        let got = geometry[2][i].as_f64().unwrap();
        assert!((got - e).abs() < 0.01 * span, "start {got} vs {e}");
        assert_eq!(after[0][i].as_f64().unwrap(), got, "every run starts at the start");
    }
    // The keyboard moves it too.
    let races = browser.races().await;
    map.send_keys("\u{E014}").await.unwrap(); // →
    browser.wait_for_race_after(&races).await;
    let moved = browser.eval("explorer.start").await;
    assert!(moved[0].as_f64().unwrap() > geometry[2][0].as_f64().unwrap());
    browser.close().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver: see the README's browser command"]
async fn moving_a_learning_rate_slider_changes_the_run() {
    let browser = open("#f=himmelblau&start=0,0&steps=100&o=sgd").await;
    let before = browser.eval("explorer.runs[0]").await;
    assert_eq!(before["spec"], "sgd");
    let slider = browser.client.find(Locator::Css("#optimizers .card input[type=range]")).await.unwrap();
    let races = browser.races().await;
    // Focus the slider and press → 100 times: a tenth of its travel, in log scale from 1e-5 to 10.
    browser
        .client
        .execute("document.querySelector('#optimizers .card input[type=range]').focus()", vec![])
        .await
        .unwrap();
    slider.send_keys(&"\u{E014}".repeat(100)).await.unwrap();
    browser.wait_for_race_after(&races).await;
    browser.wait_for("explorer.runs[0].spec !== 'sgd'").await;
    browser.wait_for("explorer.runs[0].spec === document.querySelector('#optimizers .card code').textContent").await;
    let after = browser.eval("explorer.runs[0]").await;
    let lr = after["hyperparameters"]["lr"].as_f64().unwrap();
    assert!((0.0035..0.0045).contains(&lr), "lr {lr}: about 1e-3·10^0.6");
    let shown = browser.eval("document.querySelector('#optimizers .card output').textContent").await;
    assert_eq!(shown.as_str().unwrap().parse::<f64>().unwrap(), lr, "the control shows what it sends");
    // A larger rate goes further in its first ten steps, from the same start.
    let distance = |run: &Value| {
        let p = &run["points"][10];
        (p[0].as_f64().unwrap().powi(2) + p[1].as_f64().unwrap().powi(2)).sqrt()
    };
    assert!(distance(&after) > 1.5 * distance(&before), "{} vs {}", distance(&after), distance(&before));
    browser.close().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver: see the README's browser command"]
async fn a_bad_expression_shows_an_inline_error() {
    let browser = open("").await;
    let input = browser.client.find(Locator::Id("expression")).await.unwrap();
    input.send_keys("x^2 + (y").await.unwrap();
    browser.wait_for("!document.getElementById('expression-error').hidden").await;
    let error = browser.client.find(Locator::Id("expression-error")).await.unwrap().text().await.unwrap();
    assert!(error.contains("expression \"x^2 + (y\""), "{error}");
    assert_eq!(browser.eval("explorer.fn").await, "himmelblau", "the last good surface stays");
    // Finishing it clears the error and runs on the new surface.
    let races = browser.races().await;
    input.send_keys(")^2").await.unwrap();
    browser.wait_for("document.getElementById('expression-error').hidden").await;
    browser.wait_for_race_after(&races).await;
    browser.wait_for("explorer.fn === 'x^2 + (y)^2'").await;
    assert!(browser
        .eval("document.getElementById('formula').textContent")
        .await
        .as_str()
        .unwrap()
        .contains("x^2 + (y)^2"));
    browser.close().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver: see the README's browser command"]
async fn a_shared_url_restores_the_same_view() {
    let browser = open("").await;
    // Change the view: the surface, the start, the steps, an optimizer added.
    let races = browser.races().await;
    browser.client.execute("const s = document.getElementById('surface'); s.value = 'rosenbrock'; s.dispatchEvent(new Event('change'));", vec![]).await.unwrap();
    browser.wait_for_race_after(&races).await;
    browser.wait_for("explorer.fn === 'rosenbrock'").await;
    let map = browser.client.find(Locator::Id("map")).await.unwrap();
    let races = browser.races().await;
    click_at(&browser.client, &map, -80.0, 60.0).await;
    browser.wait_for_race_after(&races).await;
    let steps = browser.client.find(Locator::Id("steps")).await.unwrap();
    let races = browser.races().await;
    // Control-A, release, 123, Tab: the field's whole text replaced, then a change.
    steps.send_keys("\u{E009}a\u{E000}123\u{E004}").await.unwrap();
    browser.wait_for_race_after(&races).await;
    browser.client.execute("document.getElementById('add-kind').value = 'lion'", vec![]).await.unwrap();
    let races = browser.races().await;
    browser.client.find(Locator::Id("add")).await.unwrap().click().await.unwrap();
    browser.wait_for_race_after(&races).await;
    browser.wait_for("explorer.runs.length === 5").await;
    let view =
        "JSON.stringify([explorer.fn, explorer.start, explorer.steps, explorer.runs.map(r => [r.spec, r.points])])";
    let shown = browser.eval(view).await;
    let url = browser.client.current_url().await.unwrap();
    assert!(url.fragment().unwrap().contains("f=rosenbrock"), "{url}");

    // The same URL in a fresh page.
    browser.client.goto("about:blank").await.unwrap();
    browser.client.goto(url.as_str()).await.unwrap();
    browser.wait_for("explorer.races >= 1").await;
    assert_eq!(browser.eval(view).await, shown);
    let steps: Value = serde_json::from_str(shown.as_str().unwrap()).unwrap();
    assert_eq!(steps[2], 123);
    browser.close().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver: see the README's browser command"]
async fn a_screenshot_shows_every_trajectory_in_its_colour() {
    let browser = open("").await;
    // Tall enough for the map and the charts (the README shows this screenshot).
    browser.client.set_window_size(1280, 1200).await.unwrap();
    // Step mode: back 60 steps, so that the state arrows show too.
    browser
        .client
        .execute("for (let k = 0; k < 60; k++) document.getElementById('back').click()", vec![])
        .await
        .unwrap();
    browser.wait_for("explorer.shown === explorer.steps - 60").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let png = browser.client.screenshot().await.unwrap();
    let palette = browser.eval("explorer.catalog.palette.slice(0, explorer.runs.length)").await;
    let mut reader = png::Decoder::new(std::io::Cursor::new(png.clone())).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    for colour in palette.as_array().unwrap() {
        let hex = colour.as_str().unwrap();
        let rgb: Vec<u8> = (0..3).map(|i| u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap()).collect();
        let count = pixels[..frame.buffer_size()].chunks(channels).filter(|p| p[..3] == rgb[..]).count();
        assert!(count >= 200, "{hex}: {count} pixels");
    }
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("explorer.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {}", path.display());
    browser.close().await;
}
