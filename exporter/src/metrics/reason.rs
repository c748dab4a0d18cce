//! The stable `reason` label values of the exporter's error counters.

use dawn_proto::{DecodeError, HandshakeError, ValidationError};

macro_rules! reasons {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $label:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order (the order of the metric's series).
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The label value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $label, )+
                }
            }

            /// Position in [`Self::ALL`].
            pub(crate) fn index(self) -> usize {
                self as usize
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

reasons! {
    /// Why a client broke the protocol: `dawn_exporter_decode_errors_total{reason}`.
    ///
    /// Framing, handshake, timeout, limit and flood errors close the connection with a
    /// `Reject`; problems with a definition or value are answered with an `Error` frame and
    /// the session goes on (docs/exporter.md has the table).
    ProtocolError {
        /// The bytes are not a bincode `Frame`.
        Malformed => "malformed",
        /// A length prefix above the frame limit.
        FrameTooLarge => "frame_too_large",
        /// The stream ended inside a frame.
        Truncated => "truncated",
        /// A frame body with unused bytes at its end.
        TrailingBytes => "trailing_bytes",
        /// A `Hello` without Dawn's magic number.
        BadMagic => "bad_magic",
        /// No protocol version in common.
        UnsupportedVersion => "unsupported_version",
        /// A metric name breaking Prometheus' rules.
        InvalidMetricName => "invalid_metric_name",
        /// A label name breaking Prometheus' rules.
        InvalidLabelName => "invalid_label_name",
        /// An inconsistent metric definition.
        InvalidDefinition => "invalid_definition",
        /// A series with the wrong number of label values, or one too long.
        LabelMismatch => "label_mismatch",
        /// A value that does not fit its metric (kind, bucket count, NaN histogram sum, ...).
        InvalidValue => "invalid_value",
        /// Free text (hello fields, health reports) too long or empty.
        InvalidText => "invalid_text",
        /// A metric name reserved for the exporter's own metrics.
        ReservedName => "reserved_name",
        /// A series or metric id the connection never defined.
        UnknownId => "unknown_id",
        /// An id defined twice on one connection with different contents.
        DuplicateId => "duplicate_id",
        /// A definition disagreeing with the exporter's definition of the same name.
        ConflictingDefinition => "conflicting_definition",
        /// A counter (or histogram) going backwards within one incarnation.
        CounterDecrease => "counter_decrease",
        /// No `Hello` within the handshake timeout.
        HandshakeTimeout => "handshake_timeout",
        /// A frame that is not valid at this point of the session.
        UnexpectedFrame => "unexpected_frame",
        /// A `Hello` at `--ingest.max-clients` while every attached client had sent a whole
        /// frame within the last second (none could give way).
        ClientLimit => "client_limit",
        /// A client silent for longer than the liveness timeout.
        IdleTimeout => "idle_timeout",
        /// A frame not whole within `--ingest.frame-timeout` of its first byte, however its
        /// bytes trickled in.
        Stalled => "stalled",
        /// A client that does not read what the exporter sends it.
        WriteTimeout => "write_timeout",
        /// A client defining more ids than its series could ever use.
        Flood => "flood",
        /// A `Define` beyond the bytes of definitions one client may have the exporter
        /// keep (`--ingest.max-client-bytes`).
        MaxClientBytes => "max_client_bytes",
        /// A `Define` beyond the bytes of definitions the store keeps in all
        /// (`--store.max-definition-bytes`).
        MaxDefinitionBytes => "max_definition_bytes",
    }
}

impl From<&DecodeError> for ProtocolError {
    fn from(e: &DecodeError) -> Self {
        match e {
            DecodeError::FrameTooLarge { .. } => ProtocolError::FrameTooLarge,
            DecodeError::Malformed { .. } => ProtocolError::Malformed,
            DecodeError::TrailingBytes { .. } => ProtocolError::TrailingBytes,
            DecodeError::Truncated { .. } => ProtocolError::Truncated,
        }
    }
}

impl From<&HandshakeError> for ProtocolError {
    fn from(e: &HandshakeError) -> Self {
        match e {
            HandshakeError::BadMagic { .. } => ProtocolError::BadMagic,
            HandshakeError::EmptyRange { .. } | HandshakeError::NoCommonVersion { .. } => {
                ProtocolError::UnsupportedVersion
            }
        }
    }
}

impl From<&ValidationError> for ProtocolError {
    fn from(e: &ValidationError) -> Self {
        match e {
            ValidationError::MetricName { .. } => ProtocolError::InvalidMetricName,
            ValidationError::LabelName { .. } => ProtocolError::InvalidLabelName,
            ValidationError::Definition { .. } => ProtocolError::InvalidDefinition,
            ValidationError::LabelValues { .. } => ProtocolError::LabelMismatch,
            ValidationError::Value { .. } => ProtocolError::InvalidValue,
            ValidationError::Text { .. } => ProtocolError::InvalidText,
        }
    }
}

reasons! {
    /// Why a series was not admitted to the store:
    /// `dawn_exporter_rejected_series_total{reason}`.
    SeriesRejection {
        /// The store holds `--store.max-series` series.
        MaxSeries => "max_series",
        /// Its metric holds `--store.max-series-per-metric` series.
        MaxSeriesPerMetric => "max_series_per_metric",
        /// Its metric's definition was refused (conflicting, invalid or reserved).
        RefusedMetric => "refused_metric",
        /// Its label values do not fit the metric.
        InvalidLabels => "invalid_labels",
        /// Its metric id was never defined on the connection (the series is not kept).
        UnknownMetric => "unknown_metric",
        /// Its client holds `--ingest.max-client-bytes` of definitions.
        MaxClientBytes => "max_client_bytes",
        /// The store holds `--store.max-definition-bytes` of definitions.
        MaxDefinitionBytes => "max_definition_bytes",
    }
}

reasons! {
    /// Why updates were dropped without an error frame:
    /// `dawn_exporter_ignored_updates_total{reason}`.
    IgnoredUpdate {
        /// The update's series was refused when defined (the client got an error then).
        RefusedSeries => "refused_series",
        /// The connection belongs to an incarnation that a newer one replaced.
        StaleIncarnation => "stale_incarnation",
        /// A first value of a series for its source while the store holds
        /// `--store.max-samples` samples (series × sources).
        MaxSamples => "max_samples",
        /// A first value of a series for a source that has `--store.max-samples-per-source`.
        MaxSamplesPerSource => "max_samples_per_source",
        /// A value whose native histogram buckets would take the store past
        /// `--store.max-native-buckets`.
        MaxNativeBuckets => "max_native_buckets",
    }
}

reasons! {
    /// Why a health check report was cut or dropped:
    /// `dawn_exporter_limited_health_checks_total{reason}`.
    HealthLimit {
        /// A new check name from a client that already reported
        /// `--health.max-checks-per-client` checks: dropped.
        MaxChecksPerClient => "max_checks_per_client",
        /// A report above `--health.max-check-bytes`: its message cut and details dropped
        /// to fit, its status kept.
        MaxCheckBytes => "max_check_bytes",
    }
}

reasons! {
    /// Why a telemetry connection was closed to make room for a newer one:
    /// `dawn_exporter_evicted_clients_total{reason}` (docs/exporter.md, "Admission").
    Eviction {
        /// It had not completed its handshake and was the oldest of
        /// `--ingest.max-pending` such connections.
        PendingLimit => "pending_limit",
        /// It was the attached client longest without a whole frame, at
        /// `--ingest.max-clients`.
        ClientLimit => "client_limit",
    }
}

reasons! {
    /// Outcome of a connection's handshake: `dawn_exporter_connections_total{result}`.
    ConnectionResult {
        /// Answered `Welcome`.
        Accepted => "accepted",
        /// Answered `Reject` (or closed) before a session began.
        Rejected => "rejected",
    }
}

reasons! {
    /// Why a telemetry client was turned away before its session began:
    /// `dawn_exporter_refused_clients_total{reason}` (docs/security.md).
    ClientRefusal {
        /// Its uid (read with `SO_PEERCRED`) is not in `--ingest.allowed-uids`.
        UidNotAllowed => "uid_not_allowed",
    }
}

reasons! {
    /// Why the HTTP server closed a connection on its own:
    /// `dawn_exporter_http_connections_closed_total{reason}` (docs/security.md).
    HttpClose {
        /// No complete request head within `--web.read-header-timeout` of connecting.
        HeaderTimeout => "header_timeout",
        /// No new request within `--web.idle-timeout` of the last answer.
        IdleTimeout => "idle_timeout",
        /// Closed to make room for a new connection at `--web.max-connections`.
        Evicted => "evicted",
        /// A new connection closed at once: every connection was busy with a request.
        Refused => "refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_agree_with_proto_reasons() {
        let decode = [
            DecodeError::FrameTooLarge { len: 1, max: 0 },
            DecodeError::Malformed {
                len: 1,
                detail: String::new(),
            },
            DecodeError::TrailingBytes {
                len: 1,
                trailing: 1,
            },
            DecodeError::Truncated { buffered: 1 },
        ];
        for e in &decode {
            assert_eq!(ProtocolError::from(e).as_str(), e.reason());
        }
        let handshake = [
            HandshakeError::BadMagic { found: 0 },
            HandshakeError::EmptyRange { min: 2, max: 1 },
        ];
        for e in &handshake {
            assert_eq!(ProtocolError::from(e).as_str(), e.reason());
        }
        let validation = [
            ValidationError::MetricName {
                name: String::new(),
                why: "",
            },
            ValidationError::LabelName {
                label: String::new(),
                why: "",
            },
            ValidationError::Definition {
                metric: String::new(),
                why: String::new(),
            },
            ValidationError::LabelValues {
                metric: String::new(),
                why: String::new(),
            },
            ValidationError::Value {
                metric: String::new(),
                why: String::new(),
            },
            ValidationError::Text {
                field: "",
                why: String::new(),
            },
        ];
        for e in &validation {
            assert_eq!(ProtocolError::from(e).as_str(), e.reason());
        }
    }

    #[test]
    fn all_lists_every_variant_in_index_order() {
        for (i, r) in ProtocolError::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        for (i, r) in SeriesRejection::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        for (i, r) in ClientRefusal::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        for (i, r) in HttpClose::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        for (i, r) in IgnoredUpdate::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        for (i, r) in HealthLimit::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        for (i, r) in Eviction::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
