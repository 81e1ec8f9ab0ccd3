"""What operators watch: Prometheus metrics (telemetry.metrics) and OpenTelemetry traces
(telemetry.tracing). Names and instruments only; no business rule, no personal data."""
