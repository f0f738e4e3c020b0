//! Medians, percentiles and the table every figure is printed in.

use std::time::Duration;

/// Sorted samples of one measurement.
#[derive(Clone, Debug)]
pub struct Samples(Vec<f64>);

impl Samples {
    /// Samples in milliseconds.
    pub fn from_durations(durations: &[Duration]) -> Self {
        Self::from_values(durations.iter().map(|d| d.as_secs_f64() * 1000.0).collect())
    }

    /// Samples as they are.
    pub fn from_values(mut values: Vec<f64>) -> Self {
        assert!(!values.is_empty(), "no samples");
        values.sort_by(f64::total_cmp);
        Samples(values)
    }

    /// The value below which a fraction `q` of the samples lie.
    pub fn quantile(&self, q: f64) -> f64 {
        self.0[((self.0.len() - 1) as f64 * q).round() as usize]
    }

    /// How many samples.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The median.
    pub fn median(&self) -> f64 {
        self.quantile(0.5)
    }
}

/// The geometric mean of positive values.
pub fn geomean(values: &[f64]) -> f64 {
    (values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp()
}

/// A figure in the results table.
#[derive(Debug)]
pub struct Row {
    /// Which figure (1-7).
    pub figure: &'static str,
    /// What was measured.
    pub name: String,
    /// The value, formatted.
    pub value: String,
    /// The goal, when the issue sets one.
    pub target: String,
    /// How it was measured (samples, ratio, ...).
    pub note: String,
}

impl Row {
    /// A row.
    pub fn new(figure: &'static str, name: impl Into<String>, value: impl Into<String>) -> Self {
        Row { figure, name: name.into(), value: value.into(), target: String::new(), note: String::new() }
    }

    /// With a target.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// With a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

/// Prints rows as a Markdown table, so the output can go into BENCHMARKS.md.
pub fn print_table(rows: &[Row]) {
    println!("| # | figure | value | target | how |");
    println!("| --- | --- | --- | --- | --- |");
    for r in rows {
        println!("| {} | {} | {} | {} | {} |", r.figure, r.name, r.value, r.target, r.note);
    }
}

/// Formats milliseconds with sensible precision.
pub fn ms(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.3} ms")
    } else if v < 100.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}
