//! The root component: owns the [`Simulation`], plays it under the virtual
//! clock, and hands snapshots of it to the panels.
//!
//! While playing, every animation frame advances the simulation by
//! `speed × elapsed wall time` of virtual time, in chunks of events, stopping
//! early when the frame's event or wall-time budget is spent so that the page
//! stays responsive (the virtual clock then runs slower than asked). Changing
//! the scenario, seed or a parameter builds a new simulation and replays it
//! from t = 0, except for the scenario's live parameters
//! (`ScenarioSpec::live`), which change the running simulation; an invalid
//! value is reported inline and changes nothing.

use std::rc::Rc;

use gloo::events::{EventListener, EventListenerOptions};
use gloo::render::{request_animation_frame, AnimationFrame};
use kvscope_core::scenario::ScenarioSpec;
use kvscope_core::scenarios::{self, specs};
use kvscope_core::time::{MS, SEC};
use kvscope_core::Simulation;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::components::backlog::{BacklogChart, BacklogPanel};
use crate::components::charts::Charts;
use crate::components::cluster_map::ClusterMap;
use crate::components::contention::ContentionControls;
use crate::components::control_bar::ControlBar;
use crate::components::counters::Counters;
use crate::components::error_panel::ErrorBanner;
use crate::components::event_log::EventLog;
use crate::components::fault_controls::{FaultControls, ParamError};
use crate::components::memory::{MemoryCharts, MemoryTree};
use crate::components::operators::Operators;
use crate::components::raft_group::RaftGroup;
use crate::components::story::StoryPanel;
use crate::components::wait_for::WaitForPanel;
use crate::panic::{self, RunInfo};
use crate::snapshot::{self, ChartData, Frame, LogFilter, LogSlice, TreePick};
use crate::speed::Speed;
use crate::url::{self, Launch};

/// Styles of the lock-manager panels (kept with the web crate that draws them).
const LOCK_PANELS_CSS: &str = include_str!("lock_panels.css");

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
    /// Rebuild the run at t = 0 and pause.
    Reset,
    /// New playback speed.
    SetSpeed(Speed),
    /// New seed, as typed.
    SetSeed(String),
    /// New scenario id.
    SetScenario(String),
    /// Set one parameter (name, value as text): live parameters change the
    /// running simulation, the others replay.
    SetParam(String, String),
    /// Show this store's memory trace tree at this moment.
    PickTree(TreePick),
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
    non_defaults: Vec<(String, String)>,
    /// Live parameters changed on the running simulation, `(name, value)` in the parameter's unit.
    live_values: Vec<(String, String)>,
    tree_pick: TreePick,
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

    /// Advances the simulation for `elapsed_ms` of wall time at the current speed.
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
        while sim.now() < target {
            let chunk_until = if max {
                target.min(sim.now().saturating_add(10 * SEC))
            } else {
                target
            };
            let ran = sim.run_bounded(chunk_until, CHUNK.min(budget));
            budget -= ran;
            if budget == 0 || wall_now() - start > wall_budget {
                break;
            }
        }
        if until_us.is_some_and(|u| sim.now() >= u) {
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

    /// Builds a new simulation and, if that works, replaces the current one
    /// (replaying from t = 0). The current run is untouched on error.
    fn replay(
        &mut self,
        scenario: &'static ScenarioSpec,
        seed: u64,
        overrides: &[(String, String)],
    ) -> Result<(), kvscope_core::ScenarioError> {
        let sim = Simulation::new(scenario.id, seed, overrides)?;
        self.install(scenario, sim);
        Ok(())
    }

    fn install(&mut self, scenario: &'static ScenarioSpec, sim: Simulation) {
        self.scenario = scenario;
        self.seed = sim.seed();
        self.non_defaults = sim.params().non_defaults();
        self.live_values.clear();
        self.tree_pick.at_ms = None;
        self.sim = Some(sim);
        self.log_len_seen = None;
        self.last_ts = None;
        self.run_version += 1;
        self.param_error = None;
        self.seed_error = None;
        panic::set_run_info(RunInfo {
            scenario: scenario.id.to_string(),
            seed: self.seed,
            non_defaults: self.non_defaults.clone(),
            now_us: 0,
            events: 0,
        });
        if self.sync_url {
            url::replace_query(&url::to_query(scenario.id, self.seed, &self.non_defaults));
        }
        self.refresh(true);
    }

    fn overrides_with(&self, name: &str, value: &str) -> Vec<(String, String)> {
        let mut o: Vec<(String, String)> = self
            .non_defaults
            .iter()
            .filter(|(n, _)| n != name)
            .cloned()
            .collect();
        o.push((name.to_string(), value.to_string()));
        o
    }

    /// The values of every parameter of the current run, as text (live
    /// changes included).
    fn param_values(&self) -> Vec<(String, String)> {
        let mut values: Vec<(String, String)> = match self.sim.as_ref() {
            Some(sim) => sim
                .params()
                .values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            None => Vec::new(),
        };
        for (name, value) in &self.live_values {
            match values.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value.clone(),
                None => values.push((name.clone(), value.clone())),
            }
        }
        values
    }

    /// Changes live parameter `name` of the running simulation. The value is
    /// checked against the scenario's parameter spec first, so a bad slider
    /// or URL value gets the same message as anywhere else; the run is left
    /// untouched on any error.
    fn set_live(&mut self, name: String, value: String) {
        let Some(p) = self.scenario.params.iter().find(|p| p.name == name) else {
            self.param_error = Some(ParamError {
                message: format!("scenario '{}' has no parameter '{name}'", self.scenario.id),
                name,
            });
            return;
        };
        let canonical = match p.parse(&value) {
            Ok(v) => v.to_string(),
            Err(e) => {
                self.param_error = Some(ParamError {
                    name,
                    message: e.to_string(),
                });
                return;
            }
        };
        let Some(sim) = self.sim.as_mut() else { return };
        if let Err(e) = sim.set_live_param(&name, &canonical) {
            self.param_error = Some(ParamError {
                name,
                message: e.to_string(),
            });
            return;
        }
        self.param_error = None;
        let is_default = p.parse(p.default).is_ok_and(|d| d.to_string() == canonical);
        self.non_defaults.retain(|(n, _)| *n != name);
        if !is_default {
            self.non_defaults.push((name.clone(), canonical.clone()));
        }
        let order = |n: &str| self.scenario.params.iter().position(|p| p.name == n);
        self.non_defaults.sort_by_key(|(n, _)| order(n));
        self.live_values.retain(|(n, _)| *n != name);
        self.live_values.push((name, canonical));
        panic::set_run_info(RunInfo {
            scenario: self.scenario.id.to_string(),
            seed: self.seed,
            non_defaults: self.non_defaults.clone(),
            now_us: sim.now(),
            events: sim.events_processed(),
        });
        if self.sync_url {
            url::replace_query(&url::to_query(
                self.scenario.id,
                self.seed,
                &self.non_defaults,
            ));
        }
        self.refresh(true);
    }
}

impl Component for App {
    type Message = Msg;
    type Properties = AppProps;

    fn create(ctx: &Context<Self>) -> Self {
        panic::install();
        let (launch, mut banners, sync_url) = match &ctx.props().launch {
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
        let sim = match Simulation::new(scenario.id, launch.seed, &launch.overrides) {
            Ok(sim) => Some(sim),
            Err(e) => {
                banners.push(format!(
                    "Cannot start this run: {e}. Showing the scenario's defaults instead."
                ));
                match Simulation::new(scenario.id, launch.seed, &[]) {
                    Ok(sim) => Some(sim),
                    Err(e) => {
                        banners.push(format!(
                            "Cannot start the scenario '{}' at all: {e}.",
                            scenario.id
                        ));
                        None
                    }
                }
            }
        };
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
            non_defaults: Vec::new(),
            live_values: Vec::new(),
            tree_pick: TreePick::default(),
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
            seed_error: None,
            raf: None,
            last_ts: None,
            last_chart_wall: 0.0,
            seq: 0,
            run_version: 0,
            sync_url: false,
            _keys: keys,
        };
        if let Some(sim) = sim {
            // Keep the URL the user typed (with its speed/play/until keys)
            // unless it had to be corrected.
            app.sync_url = sync_url && !app.banners.is_empty();
            app.install(scenario, sim);
            app.sync_url = sync_url;
            if launch.autoplay {
                app.play(ctx);
            }
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
                let overrides = self.non_defaults.clone();
                if let Err(e) = self.replay(self.scenario, self.seed, &overrides) {
                    self.banners.push(format!("Cannot reset: {e}"));
                }
            }
            Msg::SetSpeed(s) => {
                self.speed = s;
                self.last_ts = None;
            }
            Msg::SetSeed(text) => match text.trim().parse::<u64>() {
                Ok(seed) => {
                    let overrides = self.non_defaults.clone();
                    if let Err(e) = self.replay(self.scenario, seed, &overrides) {
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
                    if let Err(e) = self.replay(spec, self.seed, &[]) {
                        self.banners
                            .push(format!("Cannot start scenario '{id}': {e}"));
                    }
                    self.param_error = None;
                }
                Err(e) => self.banners.push(e.to_string()),
            },
            Msg::SetParam(name, value) if self.scenario.live.contains(&name.as_str()) => {
                self.set_live(name, value);
            }
            Msg::PickTree(pick) => {
                self.tree_pick = pick;
                self.refresh(false);
            }
            Msg::SetParam(name, value) => {
                let overrides = self.overrides_with(&name, &value);
                match self.replay(self.scenario, self.seed, &overrides) {
                    Ok(()) => self.param_error = None,
                    Err(e) => {
                        self.param_error = Some(ParamError {
                            name,
                            message: e.to_string(),
                        });
                    }
                }
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
        let lock_page = snapshot::shows_locks(self.scenario.id, None)
            || self.frame.as_ref().is_some_and(|f| f.locks.is_some());
        let values = Rc::new(self.param_values());
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
                    on_scenario={link.callback(Msg::SetScenario)}
                    on_seed={link.callback(Msg::SetSeed)}
                    on_toggle={link.callback(|_| Msg::TogglePlay)}
                    on_step={link.callback(|_| Msg::Step)}
                    on_reset={link.callback(|_| Msg::Reset)}
                    on_speed={link.callback(Msg::SetSpeed)}
                />
                <ErrorBanner messages={self.banners.clone()} on_dismiss={link.callback(Msg::DismissBanner)} />
                <style>{ LOCK_PANELS_CSS }</style>
                <main class={classes!("layout", lock_page.then_some("lock-layout"))}>
                    <aside class="col col-left">
                        if lock_page {
                            <ContentionControls
                                scenario_id={self.scenario.id}
                                values={values.clone()}
                                error={self.param_error.clone()}
                                on_set={link.callback(|(n, v)| Msg::SetParam(n, v))}
                            />
                        }
                        <FaultControls
                            scenario_id={self.scenario.id}
                            values={values}
                            run_version={self.run_version}
                            error={self.param_error.clone()}
                            on_set={link.callback(|(n, v)| Msg::SetParam(n, v))}
                        />
                        <StoryPanel scenario_id={self.scenario.id} />
                    </aside>
                    if lock_page {
                        <section class="col col-center">
                            if let Some(frame) = &self.frame {
                                if frame.locks.is_none() {
                                    <div class="panel inline-error" id="no-lock-view">
                                        { "The simulator reports no lock manager on any store for this run, so the wait-for graph, backlogs and memory panels are empty." }
                                    </div>
                                }
                                <WaitForPanel frame={frame.clone()} />
                                <BacklogPanel frame={frame.clone()} />
                                <BacklogChart data={self.charts.clone()} />
                                <ClusterMap frame={frame.clone()} on_select={link.callback(Msg::SelectRegion)} />
                                <RaftGroup frame={frame.clone()} />
                            }
                        </section>
                        <section class="col col-right">
                            if let Some(frame) = &self.frame {
                                <Counters frame={frame.clone()} />
                            }
                            <MemoryCharts data={self.charts.clone()} marker_ms={self.tree_pick.at_ms} />
                            if let Some(frame) = &self.frame {
                                <MemoryTree frame={frame.clone()} on_pick={link.callback(Msg::PickTree)} />
                            }
                            <Charts data={self.charts.clone()} />
                        </section>
                    } else {
                        <section class="col col-center">
                            if let Some(frame) = &self.frame {
                                <ClusterMap frame={frame.clone()} on_select={link.callback(Msg::SelectRegion)} />
                                <RaftGroup frame={frame.clone()} />
                            }
                        </section>
                        <section class="col col-right">
                            if let Some(frame) = &self.frame {
                                <Counters frame={frame.clone()} />
                            }
                            <Charts data={self.charts.clone()} />
                            if let Some(frame) = &self.frame {
                                <Operators frame={frame.clone()} />
                            }
                        </section>
                    }
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
