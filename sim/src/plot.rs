//! SVG plots of reports.
