//! QPS and latency over virtual time, drawn with plotters on canvases
//! (`#qps-chart`, `#latency-chart`), with fault windows shaded light red.
//! The app hands new data at most a few times a second.

use std::rc::Rc;

use kvscope_core::views::FaultWindow;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;
use yew::prelude::*;

use crate::snapshot::ChartData;

/// Properties of [`Charts`].
#[derive(Properties, PartialEq)]
pub struct ChartsProps {
    /// The series to draw.
    pub data: Rc<ChartData>,
}

const SHADE: RGBColor = RGBColor(255, 214, 214);
const QPS_COLOR: RGBColor = RGBColor(37, 99, 235);
const P50_COLOR: RGBColor = RGBColor(22, 163, 74);
const P99_COLOR: RGBColor = RGBColor(220, 38, 38);
/// The grid lines of every chart on the page.
pub(crate) const GRID: RGBColor = RGBColor(232, 235, 240);
/// Axis lines and labels of every chart on the page.
pub(crate) const AXIS_TEXT: RGBColor = RGBColor(71, 85, 105);

/// Sizes the canvas to its CSS box times the device pixel ratio; returns the ratio.
pub fn fit_canvas(canvas: &HtmlCanvasElement) -> f64 {
    let dpr = web_sys::window()
        .map_or(1.0, |w| w.device_pixel_ratio())
        .clamp(1.0, 3.0);
    let w = (canvas.client_width().max(200) as f64 * dpr) as u32;
    let h = (canvas.client_height().max(100) as f64 * dpr) as u32;
    if canvas.width() != w {
        canvas.set_width(w);
    }
    if canvas.height() != h {
        canvas.set_height(h);
    }
    dpr
}

/// The x range (virtual seconds) shown: the whole run, at least a minute.
fn x_max(data: &ChartData) -> f64 {
    (data.now_ms.max(60_000) as f64 / 1000.0).ceil()
}

type Area = DrawingArea<CanvasBackend, Shift>;

fn shade_faults<DB, CT>(
    chart: &mut ChartContext<'_, DB, CT>,
    faults: &[FaultWindow],
    x_max: f64,
    y: (f64, f64),
) -> Result<(), String>
where
    DB: DrawingBackend,
    CT: CoordTranslate<From = (f64, f64)>,
{
    chart
        .draw_series(
            faults
                .iter()
                .filter(|f| (f.start_ms as f64 / 1000.0) < x_max)
                .map(|f| {
                    let start = f.start_ms as f64 / 1000.0;
                    let end = f.end_ms.map_or(x_max, |e| (e as f64 / 1000.0).min(x_max));
                    Rectangle::new([(start, y.0), (end, y.1)], SHADE.filled())
                }),
        )
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn draw_qps(root: &Area, data: &ChartData, dpr: f64) -> Result<(), String> {
    let font = |px: f64| ("sans-serif", (px * dpr) as u32);
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let xm = x_max(data);
    let peak = data.qps.iter().map(|p| p.1).fold(0.0, f64::max);
    let ym = (peak * 1.15).max(10.0);
    let mut chart = ChartBuilder::on(root)
        .margin((6.0 * dpr) as u32)
        .margin_right((18.0 * dpr) as u32)
        .x_label_area_size((22.0 * dpr) as u32)
        .y_label_area_size((46.0 * dpr) as u32)
        .build_cartesian_2d(0f64..xm, 0f64..ym)
        .map_err(|e| e.to_string())?;
    shade_faults(&mut chart, &data.faults, xm, (0.0, ym))?;
    chart
        .configure_mesh()
        .light_line_style(GRID)
        .bold_line_style(GRID)
        .axis_style(AXIS_TEXT)
        .label_style(font(11.0).into_font().color(&AXIS_TEXT))
        .x_labels(8)
        .y_labels(5)
        .x_label_formatter(&|x| format!("{x:.0}s"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            data.qps.iter().map(|&(t, v)| (t as f64 / 1000.0, v)),
            QPS_COLOR.stroke_width((2.0 * dpr) as u32),
        ))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Contiguous runs of non-zero points (a latency of 0 means no write completed).
fn nonzero_runs(points: &[(u64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut cur = Vec::new();
    for &(t, v) in points {
        if v > 0.0 {
            cur.push((t as f64 / 1000.0, v));
        } else if !cur.is_empty() {
            runs.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    runs
}

fn draw_latency(root: &Area, data: &ChartData, dpr: f64) -> Result<(), String> {
    let font = |px: f64| ("sans-serif", (px * dpr) as u32);
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let xm = x_max(data);
    let peak = data
        .p99
        .iter()
        .chain(data.p50.iter())
        .map(|p| p.1)
        .fold(0.0, f64::max);
    let ym = (peak * 2.0).max(50.0);
    let y0 = 0.1;
    let mut chart = ChartBuilder::on(root)
        .margin((6.0 * dpr) as u32)
        .margin_right((18.0 * dpr) as u32)
        .x_label_area_size((22.0 * dpr) as u32)
        .y_label_area_size((46.0 * dpr) as u32)
        .build_cartesian_2d(0f64..xm, (y0..ym).log_scale())
        .map_err(|e| e.to_string())?;
    shade_faults(&mut chart, &data.faults, xm, (y0, ym))?;
    chart
        .configure_mesh()
        .light_line_style(GRID)
        .bold_line_style(GRID)
        .axis_style(AXIS_TEXT)
        .label_style(font(11.0).into_font().color(&AXIS_TEXT))
        .x_labels(8)
        .y_labels(5)
        .x_label_formatter(&|x| format!("{x:.0}s"))
        .y_label_formatter(&|y| {
            if *y >= 1000.0 {
                format!("{:.0}s", y / 1000.0)
            } else if *y >= 1.0 {
                format!("{y:.0}ms")
            } else {
                format!("{y:.1}ms")
            }
        })
        .draw()
        .map_err(|e| e.to_string())?;
    for (series, color) in [(&data.p50, P50_COLOR), (&data.p99, P99_COLOR)] {
        for run in nonzero_runs(series) {
            chart
                .draw_series(LineSeries::new(run, color.stroke_width((2.0 * dpr) as u32)))
                .map_err(|e| e.to_string())?;
        }
    }
    root.present().map_err(|e| e.to_string())
}

fn draw(
    node: &NodeRef,
    data: &ChartData,
    f: fn(&Area, &ChartData, f64) -> Result<(), String>,
) -> Option<String> {
    let canvas = node.cast::<HtmlCanvasElement>()?;
    let dpr = fit_canvas(&canvas);
    let Some(backend) = CanvasBackend::with_canvas_object(canvas) else {
        return Some("this browser gave no 2D canvas context".into());
    };
    f(&backend.into_drawing_area(), data, dpr).err()
}

/// The two charts.
#[component]
pub fn Charts(props: &ChartsProps) -> Html {
    let qps_ref = use_node_ref();
    let lat_ref = use_node_ref();
    let error = use_state(|| None::<String>);
    {
        let (qps_ref, lat_ref, error) = (qps_ref.clone(), lat_ref.clone(), error.clone());
        use_effect_with(props.data.clone(), move |data| {
            let e1 = draw(&qps_ref, data, draw_qps);
            let e2 = draw(&lat_ref, data, draw_latency);
            let e = e1.or(e2);
            if *error != e {
                error.set(e);
            }
        });
    }
    let has_fault = !props.data.faults.is_empty();
    // Name the shaded windows after the faults they are (one kind: its name).
    let fault_label = {
        let mut kinds: Vec<&str> = props.data.faults.iter().map(|f| f.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        match kinds.as_slice() {
            ["io-hang"] => "IO hang window".to_string(),
            [one] => format!("{one} window"),
            _ => "fault windows".to_string(),
        }
    };
    html! {
        <div class="panel charts-panel">
            <div class="chart-box">
                <div class="chart-head">
                    <h2>{"Cluster QPS"}</h2>
                    <span class="chart-legend">
                        <span class="swatch" style="background:#2563eb"></span>{"completed writes / virtual s"}
                        if has_fault {
                            <span class="swatch shade"></span>{ fault_label.clone() }
                        }
                    </span>
                </div>
                <canvas id="qps-chart" class="chart" ref={qps_ref}></canvas>
            </div>
            <div class="chart-box">
                <div class="chart-head">
                    <h2>{"Write latency"}</h2>
                    <span class="chart-legend">
                        <span class="swatch" style="background:#16a34a"></span>{"p50"}
                        <span class="swatch" style="background:#dc2626"></span>{"p99"}
                        <span title="Latency of completed writes, log scale; no line where nothing completed">{" · log scale"}</span>
                    </span>
                </div>
                <canvas id="latency-chart" class="chart" ref={lat_ref}></canvas>
            </div>
            if let Some(e) = &*error {
                <div class="inline-error">{ format!("Chart: {e}") }</div>
            }
        </div>
    }
}
