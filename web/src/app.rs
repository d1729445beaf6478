//! The root component: owns the [`Simulation`], plays it under the virtual
//! clock, and hands snapshots of it to the panels, which it lays out from
//! the scenario's spec ([`kvscope_core::scenario::PageLayout`]): three
//! columns, each panel of the spec mapped to its component, and the event
//! log below them.
//!
//! While playing, every animation frame advances the simulation by
//! `speed × elapsed wall time` of virtual time, in chunks of events, stopping
//! early when the frame's event or wall-time budget is spent so that the page
//! stays responsive (the virtual clock then runs slower than asked). A stop
//! time (`until`) is reached exactly: every event due at or before it runs.
//!
//! User inputs are replayable data. A live parameter (`ScenarioSpec::live`)
//! or an injected fault goes to the running simulation through
//! `Simulation::apply_input`, which applies it at the current virtual time,
//! records it and hashes it into the trace; the URL then lists it as
//! `at=TIME:NAME=VALUE`. Opening such a URL builds the run and schedules
//! every input (`Simulation::schedule_input`) before playing. Changing the
//! scenario, the seed or a build parameter starts a new run from t = 0
//! without inputs, as Reset does with the same build parameters. An invalid
//! value is reported inline and changes nothing.

use std::rc::Rc;

use gloo::events::{EventListener, EventListenerOptions};
use gloo::render::{request_animation_frame, AnimationFrame};
use kvscope_core::input::{Input, InputAction, InputError};
use kvscope_core::scenario::{Panel, ScenarioSpec};
use kvscope_core::scenarios::{self, specs};
use kvscope_core::time::{MS, SEC};
use kvscope_core::Simulation;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::components::backlog::{BacklogChart, BacklogPanel};
use crate::components::charts::Charts;
use crate::components::cluster_map::ClusterMap;
use crate::components::control_bar::ControlBar;
use crate::components::counters::Counters;
use crate::components::error_panel::ErrorBanner;
use crate::components::event_log::EventLog;
use crate::components::fault_injection::FaultInjection;
use crate::components::in_memory_engine::InMemoryEngine;
use crate::components::live_controls::LiveControls;
use crate::components::memory::{MemoryCharts, MemoryTree};
use crate::components::operators::Operators;
use crate::components::parameters::{ParamError, Parameters, SpecRef};
use crate::components::raft_group::RaftGroup;
use crate::components::resolved_ts::ResolvedTs;
use crate::components::snapshot_pipeline::SnapshotPipeline;
use crate::components::story::StoryPanel;
use crate::components::wait_for::WaitForPanel;
use crate::components::why_stuck::WhyStuck;
use crate::panic::{self, RunInfo};
use crate::snapshot::{self, ChartData, Frame, LogFilter, LogSlice, TreePick};
use crate::speed::Speed;
use crate::url::{self, Launch};

/// Styles of the lock-manager panels (kept with the web crate that draws them).
const LOCK_PANELS_CSS: &str = include_str!("lock_panels.css");
/// Styles of the resolved-ts panel (kept with the web crate that draws it).
const RESOLVED_TS_CSS: &str = include_str!("resolved_ts.css");

/// Most events processed in one animation frame at a set speed.
pub const MAX_EVENTS_PER_FRAME: u64 = 20_000;
/// Most events processed in one animation frame at speed "max".
pub const MAX_EVENTS_PER_FRAME_AT_MAX: u64 = 100_000;
/// Events per `run_bounded` call inside a frame (the wall clock is checked between calls).
const CHUNK: u64 = 1_000;
/// Wall-time budget of the simulation per frame, ms.
const FRAME_BUDGET_MS: f64 = 12.0;
/// Wall-time budget of the simulation per frame at speed "max", ms (the page
/// then redraws at about 20 frames a second and simulates the rest of the time).
const FRAME_BUDGET_AT_MAX_MS: f64 = 40.0;
/// Longest wall time one frame may account for (after a background tab, say), ms.
const MAX_FRAME_GAP_MS: f64 = 100.0;
/// Charts are redrawn at most this often while playing, wall ms.
const CHART_PERIOD_MS: f64 = 250.0;

/// Properties of [`App`].
#[derive(Properties, Clone, PartialEq, Default)]
pub struct AppProps {
    /// The run to start with. `None` (the page) reads it from the query
    /// string and keeps the query string in step with the run; `Some` (tests,
    /// embedding) uses it as given and leaves the URL alone.
    #[prop_or_default]
    pub launch: Option<Launch>,
}

/// Messages of [`App`].
#[derive(Debug)]
pub enum Msg {
    /// An animation frame at this `performance.now()` time.
    Frame(f64),
    /// Play or pause.
    TogglePlay,
    /// Process the next event (pauses).
    Step,
    /// Start the same build parameters again at t = 0, without inputs, and pause.
    Reset,
    /// New playback speed.
    SetSpeed(Speed),
    /// New seed, as typed.
    SetSeed(String),
    /// New scenario id.
    SetScenario(String),
    /// Set one parameter (name, value as text): a live parameter is an input
    /// to the running simulation, any other starts a new run from t = 0.
    SetParam(String, String),
    /// Inject a fault now: the input text `NAME=VALUE` (`io-hang=3/30s`, ...).
    InjectFault(String),
    /// Show this store's memory trace tree at this moment.
    PickTree(TreePick),
    /// Show this store's in-memory engine (`None`: the store the panel picks).
    PickImeStore(Option<u64>),
    /// Show this region's resolver in the resolved-ts panel.
    PickRtsRegion(u64),
    /// Show this region's Raft group.
    SelectRegion(u64),
    /// New event-log filter.
    SetLogFilter(LogFilter),
    /// Close the banner message at this index.
    DismissBanner(usize),
    /// A keyboard shortcut (`Space` or `ArrowRight`).
    Key(String),
}

/// The kvscope page.
pub struct App {
    sim: Option<Simulation>,
    scenario: &'static ScenarioSpec,
    seed: u64,
    tree_pick: TreePick,
    ime_store: Option<u64>,
    rts_region: Option<u64>,
    playing: bool,
    speed: Speed,
    until_ms: Option<u64>,
    selected: Option<u64>,
    frame: Option<Rc<Frame>>,
    charts: Rc<ChartData>,
    log: Rc<LogSlice>,
    log_filter: LogFilter,
    log_len_seen: Option<usize>,
    banners: Vec<String>,
    param_error: Option<ParamError>,
    fault_error: Option<String>,
    seed_error: Option<String>,
    raf: Option<AnimationFrame>,
    last_ts: Option<f64>,
    last_chart_wall: f64,
    seq: u64,
    /// Bumped on every new simulation, so inputs show the applied values again.
    run_version: u64,
    sync_url: bool,
    _keys: Option<EventListener>,
}

/// `performance.now()`, or 0 outside a window.
fn wall_now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Whether a key event comes from a place that takes typing or its own keys.
fn from_form_field(event: &web_sys::Event) -> bool {
    event
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|el| {
            matches!(
                el.tag_name().to_ascii_lowercase().as_str(),
                "input" | "select" | "textarea" | "button"
            ) || el.closest("[contenteditable]").ok().flatten().is_some()
        })
}

/// Every parameter of `params` as `(name, value)` text pairs.
fn values_of(params: &kvscope_core::Params) -> Vec<(String, String)> {
    params
        .values
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl App {
    fn request_frame(&mut self, ctx: &Context<Self>) {
        let link = ctx.link().clone();
        self.raf = Some(request_animation_frame(move |ts| {
            link.send_message(Msg::Frame(ts))
        }));
    }

    fn play(&mut self, ctx: &Context<Self>) {
        if self.sim.is_none() {
            return;
        }
        if let (Some(until), Some(sim)) = (self.until_ms, self.sim.as_ref()) {
            if sim.now() >= until * MS {
                // Playing on past the stop time: it has done its job.
                self.until_ms = None;
            }
        }
        self.playing = true;
        self.last_ts = None;
        self.request_frame(ctx);
    }

    fn pause(&mut self) {
        self.playing = false;
        self.raf = None;
        self.last_ts = None;
        self.refresh(true);
    }

    /// Advances the simulation for `elapsed_ms` of wall time at the current
    /// speed. The stop time is reached exactly: the run pauses only once
    /// every event due at or before it has run, as `Simulation::run_until`
    /// does, so a replay stopped at the same time has the same trace hash.
    fn advance(&mut self, elapsed_ms: f64) {
        let Some(sim) = self.sim.as_mut() else { return };
        let start = wall_now();
        let until_us = self.until_ms.map(|ms| ms.saturating_mul(MS));
        let max = self.speed == Speed::Max;
        let target = match self.speed.virtual_us_for(elapsed_ms) {
            Some(d) => sim.now().saturating_add(d),
            None => u64::MAX,
        };
        let target = until_us.map_or(target, |u| target.min(u));
        let (mut budget, wall_budget) = if max {
            (MAX_EVENTS_PER_FRAME_AT_MAX, FRAME_BUDGET_AT_MAX_MS)
        } else {
            (MAX_EVENTS_PER_FRAME, FRAME_BUDGET_MS)
        };
        let mut reached = false;
        while budget > 0 {
            let chunk_until = if max {
                target.min(sim.now().saturating_add(10 * SEC))
            } else {
                target
            };
            let chunk = CHUNK.min(budget);
            let ran = sim.run_bounded(chunk_until, chunk);
            budget -= ran;
            if ran < chunk && chunk_until == target {
                // Every event due at or before the target has run.
                reached = true;
                break;
            }
            if wall_now() - start > wall_budget {
                break;
            }
        }
        if reached && until_us == Some(target) {
            self.playing = false;
            self.raf = None;
        }
    }

    /// Re-captures the frame (and the log and charts when due) after the simulation changed.
    fn refresh(&mut self, force_charts: bool) {
        let Some(sim) = self.sim.as_ref() else { return };
        self.seq += 1;
        self.frame = Some(Rc::new(Frame::capture(
            self.seq,
            sim,
            self.selected,
            self.tree_pick,
            self.ime_store,
            self.rts_region,
        )));
        let wall = wall_now();
        if force_charts || wall - self.last_chart_wall >= CHART_PERIOD_MS {
            self.charts = Rc::new(ChartData::capture(self.seq, sim));
            self.last_chart_wall = wall;
        }
        if self.log_len_seen != Some(sim.log().len()) {
            self.log = Rc::new(LogSlice::capture(self.seq, sim.log(), &self.log_filter));
            self.log_len_seen = Some(sim.log().len());
        }
        panic::set_run_progress(sim.now(), sim.events_processed());
    }

    /// The inputs that replay the current run: those applied so far, then
    /// those still scheduled, in order.
    fn replay_inputs(&self) -> Vec<Input> {
        self.sim.as_ref().map_or_else(Vec::new, |sim| {
            sim.inputs()
                .iter()
                .chain(sim.pending_inputs())
                .cloned()
                .collect()
        })
    }

    /// The non-default parameters the current run was built with.
    fn build_overrides(&self) -> Vec<(String, String)> {
        self.sim
            .as_ref()
            .map(|s| s.build_params().non_defaults())
            .unwrap_or_default()
    }

    /// Records the run for the panic panel and, on the page, writes it into
    /// the query string (build parameters and inputs, never live values).
    fn publish_run(&self) {
        let Some(sim) = self.sim.as_ref() else { return };
        let non_defaults = self.build_overrides();
        let inputs = self.replay_inputs();
        if self.sync_url {
            url::replace_query(&url::to_query(
                self.scenario.id,
                self.seed,
                &non_defaults,
                &inputs,
            ));
        }
        panic::set_run_info(RunInfo {
            scenario: self.scenario.id.to_string(),
            seed: self.seed,
            non_defaults,
            inputs,
            now_us: sim.now(),
            events: sim.events_processed(),
        });
    }

    /// Builds a new run of `scenario` with `seed` and `overrides`, schedules
    /// `inputs` on it and, if the build works, replaces the current run (the
    /// current run is untouched on error). Returns one message per input the
    /// simulation refused (each is skipped).
    fn start_run(
        &mut self,
        scenario: &'static ScenarioSpec,
        seed: u64,
        overrides: &[(String, String)],
        inputs: &[Input],
    ) -> Result<Vec<String>, kvscope_core::ScenarioError> {
        let mut sim = Simulation::new(scenario.id, seed, overrides)?;
        let mut refused = Vec::new();
        for input in inputs {
            if let Err(e) = sim.schedule_input(input.clone()) {
                refused.push(format!("URL: at={}: {e}; skipped", input.to_text()));
            }
        }
        self.install(scenario, sim);
        Ok(refused)
    }

    fn install(&mut self, scenario: &'static ScenarioSpec, sim: Simulation) {
        self.scenario = scenario;
        self.seed = sim.seed();
        self.tree_pick.at_ms = None;
        self.sim = Some(sim);
        self.log_len_seen = None;
        self.last_ts = None;
        self.run_version += 1;
        self.param_error = None;
        self.fault_error = None;
        self.seed_error = None;
        self.publish_run();
        self.refresh(true);
    }

    /// Applies `action` to the running simulation now (a user input), then
    /// records the run and redraws.
    ///
    /// Errors: the core's [`InputError`]; nothing changes then.
    fn apply(&mut self, action: InputAction) -> Result<Input, InputError> {
        let Some(sim) = self.sim.as_mut() else {
            return Err(InputError::Malformed {
                text: action.name().to_string(),
                reason: "no simulation is running".to_string(),
            });
        };
        let input = sim.apply_input(action)?;
        self.publish_run();
        self.refresh(true);
        Ok(input)
    }

    /// Changes live parameter `name` of the running simulation (an input).
    fn set_live(&mut self, name: String, value: String) {
        let action = InputAction::SetParam {
            name: name.clone(),
            value,
        };
        self.param_error = match self.apply(action) {
            Ok(_) => None,
            Err(e) => Some(ParamError {
                name,
                message: e.to_string(),
            }),
        };
    }

    /// Injects the fault `text` (`NAME=VALUE`) into the running simulation now.
    fn inject(&mut self, text: &str) {
        let result = InputAction::parse(text).and_then(|action| match action {
            InputAction::Fault(_) => self.apply(action),
            other => Err(InputError::Malformed {
                text: text.to_string(),
                reason: format!("'{}' is not a fault kind", other.name()),
            }),
        });
        self.fault_error = result.err().map(|e| e.to_string());
    }

    /// Starts a new run with build parameter `name` set to `value` (the
    /// other build parameters kept, no inputs).
    fn rebuild_with(&mut self, name: String, value: String) {
        let mut overrides: Vec<(String, String)> = self
            .build_overrides()
            .into_iter()
            .filter(|(n, _)| *n != name)
            .collect();
        overrides.push((name.clone(), value));
        if let Err(e) = self.start_run(self.scenario, self.seed, &overrides, &[]) {
            self.param_error = Some(ParamError {
                name,
                message: e.to_string(),
            });
        }
    }

    /// The component of one panel of the layout.
    fn panel(&self, ctx: &Context<Self>, panel: Panel, first_lock_panel: bool) -> Html {
        let link = ctx.link();
        let spec = SpecRef(self.scenario);
        let on_set = link.callback(|(n, v)| Msg::SetParam(n, v));
        let Some(frame) = self.frame.clone() else {
            return html! {};
        };
        let no_lock_view = (first_lock_panel && frame.locks.is_none()).then(|| {
            html! {
                <div class="panel inline-error" id="no-lock-view">
                    { "The simulator reports no lock manager on any store for this run, so the lock-manager panels are empty." }
                </div>
            }
        });
        let body = match panel {
            Panel::ClusterMap => html! {
                <ClusterMap frame={frame} on_select={link.callback(Msg::SelectRegion)} />
            },
            Panel::RaftGroup => html! { <RaftGroup frame={frame} /> },
            Panel::Operators => html! { <Operators frame={frame} /> },
            Panel::WhyStuck => html! {
                <WhyStuck frame={frame} on_select={link.callback(Msg::SelectRegion)} />
            },
            Panel::Counters => html! { <Counters frame={frame} /> },
            Panel::ClientCharts => html! { <Charts data={self.charts.clone()} /> },
            Panel::Parameters => {
                let values = self
                    .sim
                    .as_ref()
                    .map(|s| values_of(s.build_params()))
                    .unwrap_or_default();
                let stores: Vec<u64> = frame.view.stores.iter().map(|s| s.id).collect();
                html! {
                    <Parameters spec={spec} values={Rc::new(values)} stores={Rc::new(stores)}
                        run_version={self.run_version} error={self.param_error.clone()} on_set={on_set} />
                }
            }
            Panel::LiveControls => {
                let values = self
                    .sim
                    .as_ref()
                    .map(|s| values_of(s.params()))
                    .unwrap_or_default();
                html! {
                    <LiveControls spec={spec} values={Rc::new(values)} error={self.param_error.clone()} on_set={on_set} />
                }
            }
            Panel::Story => html! { <StoryPanel scenario_id={self.scenario.id} /> },
            Panel::WaitForGraph => html! { <WaitForPanel frame={frame} /> },
            Panel::LockManagerQueues => html! { <BacklogPanel frame={frame} /> },
            Panel::DetectorBacklogChart => html! { <BacklogChart data={self.charts.clone()} /> },
            Panel::MemoryCharts => html! {
                <MemoryCharts data={self.charts.clone()} marker_ms={self.tree_pick.at_ms} />
            },
            Panel::MemoryTree => html! {
                <MemoryTree frame={frame} charts={self.charts.clone()} on_pick={link.callback(Msg::PickTree)} />
            },
            Panel::SnapshotPipeline => html! { <SnapshotPipeline frame={frame} /> },
            Panel::InMemoryEngine => html! {
                <InMemoryEngine frame={frame} on_pick={link.callback(Msg::PickImeStore)} />
            },
            Panel::ResolvedTs => html! {
                <ResolvedTs frame={frame} on_pick={link.callback(Msg::PickRtsRegion)} />
            },
            Panel::FaultInjection => html! {
                <FaultInjection frame={frame} error={self.fault_error.clone()} on_inject={link.callback(Msg::InjectFault)} />
            },
        };
        html! { <>{ for no_lock_view }{ body }</> }
    }
}

impl Component for App {
    type Message = Msg;
    type Properties = AppProps;

    fn create(ctx: &Context<Self>) -> Self {
        panic::install();
        let (launch, banners, sync_url) = match &ctx.props().launch {
            Some(l) => (l.clone(), Vec::new(), false),
            None => {
                let (l, errors) = url::parse_query(&url::current_query());
                (l, errors, true)
            }
        };
        let scenario = scenarios::find(&launch.scenario)
            .ok()
            .map(|s| s.spec())
            .or_else(|| specs().next())
            .expect("the registry has a scenario");
        let keys = web_sys::window().map(|w| {
            let link = ctx.link().clone();
            EventListener::new_with_options(
                &w,
                "keydown",
                EventListenerOptions::enable_prevent_default(),
                move |e| {
                    let Some(k) = e.dyn_ref::<web_sys::KeyboardEvent>() else {
                        return;
                    };
                    if k.ctrl_key() || k.meta_key() || k.alt_key() || from_form_field(e) {
                        return;
                    }
                    let code = k.code();
                    if code == "Space" || code == "ArrowRight" {
                        e.prevent_default();
                        link.send_message(Msg::Key(code));
                    }
                },
            )
        });
        let mut app = App {
            sim: None,
            scenario,
            seed: launch.seed,
            tree_pick: TreePick::default(),
            ime_store: None,
            rts_region: None,
            playing: false,
            speed: launch.speed,
            until_ms: launch.until_ms,
            selected: None,
            frame: None,
            charts: Rc::new(ChartData::default()),
            log: Rc::new(LogSlice::default()),
            log_filter: LogFilter::default(),
            log_len_seen: None,
            banners,
            param_error: None,
            fault_error: None,
            seed_error: None,
            raf: None,
            last_ts: None,
            last_chart_wall: 0.0,
            seq: 0,
            run_version: 0,
            sync_url: false,
            _keys: keys,
        };
        // Keep the URL the user typed (with its speed/play/until keys)
        // unless it had to be corrected.
        app.sync_url = sync_url && !app.banners.is_empty();
        let started = app
            .start_run(scenario, launch.seed, &launch.overrides, &launch.inputs)
            .or_else(|e| {
                app.banners.push(format!(
                    "Cannot start this run: {e}. Showing the scenario's defaults instead."
                ));
                app.sync_url = sync_url;
                app.start_run(scenario, launch.seed, &[], &launch.inputs)
            });
        match started {
            Ok(refused) if !refused.is_empty() => {
                app.banners.extend(refused);
                // Write the corrected URL: without the refused inputs.
                app.sync_url = sync_url;
                app.publish_run();
            }
            Ok(_) => {}
            Err(e) => app.banners.push(format!(
                "Cannot start the scenario '{}' at all: {e}.",
                scenario.id
            )),
        }
        app.sync_url = sync_url;
        if launch.autoplay {
            app.play(ctx);
        }
        app
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Frame(ts) => {
                if !self.playing {
                    self.raf = None;
                    return false;
                }
                let elapsed = self.last_ts.map_or(1000.0 / 60.0, |last| {
                    (ts - last).clamp(0.0, MAX_FRAME_GAP_MS)
                });
                self.last_ts = Some(ts);
                self.advance(elapsed);
                if self.playing {
                    self.request_frame(ctx);
                    self.refresh(false);
                } else {
                    // Reached the stop time.
                    self.pause();
                }
            }
            Msg::TogglePlay => {
                if self.playing {
                    self.pause();
                } else {
                    self.play(ctx);
                }
            }
            Msg::Step => {
                if self.playing {
                    self.playing = false;
                    self.raf = None;
                }
                if let Some(sim) = self.sim.as_mut() {
                    sim.step();
                }
                self.refresh(true);
            }
            Msg::Reset => {
                self.playing = false;
                self.raf = None;
                let overrides = self.build_overrides();
                if let Err(e) = self.start_run(self.scenario, self.seed, &overrides, &[]) {
                    self.banners.push(format!("Cannot reset: {e}"));
                }
            }
            Msg::SetSpeed(s) => {
                self.speed = s;
                self.last_ts = None;
            }
            Msg::SetSeed(text) => match text.trim().parse::<u64>() {
                Ok(seed) => {
                    let overrides = self.build_overrides();
                    if let Err(e) = self.start_run(self.scenario, seed, &overrides, &[]) {
                        self.seed_error = Some(e.to_string());
                    }
                }
                Err(_) => {
                    self.seed_error = Some(format!(
                        "seed '{text}' must be a whole number from 0 to {}",
                        u64::MAX
                    ));
                }
            },
            Msg::SetScenario(id) => match scenarios::find(&id).map(|s| s.spec()) {
                Ok(spec) => {
                    if let Err(e) = self.start_run(spec, self.seed, &[], &[]) {
                        self.banners
                            .push(format!("Cannot start scenario '{id}': {e}"));
                    }
                    self.param_error = None;
                }
                Err(e) => self.banners.push(e.to_string()),
            },
            Msg::SetParam(name, value) => {
                if self.scenario.live.contains(&name.as_str()) {
                    self.set_live(name, value);
                } else {
                    self.rebuild_with(name, value);
                }
            }
            Msg::InjectFault(text) => self.inject(&text),
            Msg::PickTree(pick) => {
                self.tree_pick = pick;
                self.refresh(false);
            }
            Msg::PickImeStore(store) => {
                self.ime_store = store;
                self.refresh(false);
            }
            Msg::PickRtsRegion(region) => {
                self.rts_region = Some(region);
                self.refresh(false);
            }
            Msg::SelectRegion(r) => {
                self.selected = Some(r);
                self.refresh(false);
            }
            Msg::SetLogFilter(f) => {
                self.log_filter = f;
                self.log_len_seen = None;
                self.refresh(false);
            }
            Msg::DismissBanner(i) => {
                if i < self.banners.len() {
                    self.banners.remove(i);
                }
            }
            Msg::Key(code) => {
                return match code.as_str() {
                    "Space" => Component::update(self, ctx, Msg::TogglePlay),
                    "ArrowRight" => Component::update(self, ctx, Msg::Step),
                    _ => false,
                };
            }
        }
        true
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let now_us = self.sim.as_ref().map_or(0, |s| s.now());
        let events = self.sim.as_ref().map_or(0, |s| s.events_processed());
        let stores: Vec<u64> = self
            .frame
            .as_ref()
            .map(|f| f.view.stores.iter().map(|s| s.id).collect())
            .unwrap_or_default();
        let regions: Vec<u64> = self
            .frame
            .as_ref()
            .map(|f| {
                let mut r: Vec<u64> = f.view.regions.iter().map(|r| r.id).collect();
                r.sort_unstable();
                r
            })
            .unwrap_or_default();
        let trace_hash = self
            .frame
            .as_ref()
            .map(|f| f.trace_hash.clone())
            .unwrap_or_default();
        let layout = &self.scenario.layout;
        let first_lock_panel = layout
            .left
            .iter()
            .chain(layout.center)
            .chain(layout.right)
            .find(|p| snapshot::LOCK_PANELS.contains(p))
            .copied();
        let panel = |p: &Panel| self.panel(ctx, *p, Some(*p) == first_lock_panel);
        let column = |class: &'static str, panels: &'static [Panel]| {
            html! {
                <section class={classes!("col", class)}>
                    { for panels.iter().map(panel) }
                </section>
            }
        };
        // The left column holds the controls and, last, the story: the
        // controls scroll together above it, so that the story keeps a
        // readable part of the column whatever the controls need.
        let left = match layout.left.split_last() {
            Some((last, stack)) if !stack.is_empty() => html! {
                <section class="col col-left split">
                    <div class="col-stack">{ for stack.iter().map(panel) }</div>
                    { panel(last) }
                </section>
            },
            _ => column("col-left", layout.left),
        };
        html! {
            <div class="app">
                <ControlBar
                    scenario_id={self.scenario.id}
                    seed={self.seed}
                    run_version={self.run_version}
                    seed_error={self.seed_error.clone()}
                    playing={self.playing}
                    speed={self.speed}
                    now_us={now_us}
                    events={events}
                    until_ms={self.until_ms}
                    trace_hash={trace_hash}
                    on_scenario={link.callback(Msg::SetScenario)}
                    on_seed={link.callback(Msg::SetSeed)}
                    on_toggle={link.callback(|_| Msg::TogglePlay)}
                    on_step={link.callback(|_| Msg::Step)}
                    on_reset={link.callback(|_| Msg::Reset)}
                    on_speed={link.callback(Msg::SetSpeed)}
                />
                <ErrorBanner messages={self.banners.clone()} on_dismiss={link.callback(Msg::DismissBanner)} />
                <style>{ LOCK_PANELS_CSS }</style>
                <style>{ RESOLVED_TS_CSS }</style>
                <main class="layout" data-scenario={self.scenario.id}>
                    { left }
                    { column("col-center", layout.center) }
                    { column("col-right", layout.right) }
                </main>
                <EventLog
                    slice={self.log.clone()}
                    filter={self.log_filter}
                    stores={stores}
                    regions={regions}
                    on_filter={link.callback(Msg::SetLogFilter)}
                    on_select_region={link.callback(Msg::SelectRegion)}
                />
            </div>
        }
    }
}
