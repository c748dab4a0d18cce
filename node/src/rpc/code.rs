//! JSON-RPC error codes: the five of the JSON-RPC 2.0 specification plus the two the
//! original Dawn system defined (rate limited, server error). Peers on both sides of a
//! connection match on these numbers, so they never change meaning.

use std::fmt;

/// Raw value of [`ErrorCode::ParseError`].
pub const PARSE_ERROR: i64 = -32700;
/// Raw value of [`ErrorCode::InvalidRequest`].
pub const INVALID_REQUEST: i64 = -32600;
/// Raw value of [`ErrorCode::MethodNotFound`].
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Raw value of [`ErrorCode::InvalidParams`].
pub const INVALID_PARAMS: i64 = -32602;
/// Raw value of [`ErrorCode::InternalError`].
pub const INTERNAL_ERROR: i64 = -32603;
/// Raw value of [`ErrorCode::RateLimited`].
pub const RATE_LIMITED: i64 = -32005;
/// Raw value of [`ErrorCode::ServerError`].
pub const SERVER_ERROR: i64 = -32001;

/// The error codes this node sends and understands.
///
/// A peer may send any integer as a code (the field stays an `i64` in
/// [`ErrorObject`](super::ErrorObject)); [`ErrorCode::from_code`] recognises ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// -32700: the bytes are not JSON (or not UTF-8, or too large to read).
    ParseError,
    /// -32600: valid JSON that is not a JSON-RPC 2.0 message we accept.
    InvalidRequest,
    /// -32601: no such method (or, for `agent/call`, no such agent or tool).
    MethodNotFound,
    /// -32602: the method exists but its params are wrong.
    InvalidParams,
    /// -32603: the node failed while handling a valid request.
    InternalError,
    /// -32005: the sender is over its rate limit; `error.data.retry_after` says when to retry.
    RateLimited,
    /// -32001: the node cannot serve the request right now (e.g. the target peer's circuit
    /// breaker is open, or the node is shutting down).
    ServerError,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: [ErrorCode; 7] = [
        ErrorCode::ParseError,
        ErrorCode::InvalidRequest,
        ErrorCode::MethodNotFound,
        ErrorCode::InvalidParams,
        ErrorCode::InternalError,
        ErrorCode::RateLimited,
        ErrorCode::ServerError,
    ];

    /// The integer sent in `error.code`.
    pub const fn code(self) -> i64 {
        match self {
            ErrorCode::ParseError => PARSE_ERROR,
            ErrorCode::InvalidRequest => INVALID_REQUEST,
            ErrorCode::MethodNotFound => METHOD_NOT_FOUND,
            ErrorCode::InvalidParams => INVALID_PARAMS,
            ErrorCode::InternalError => INTERNAL_ERROR,
            ErrorCode::RateLimited => RATE_LIMITED,
            ErrorCode::ServerError => SERVER_ERROR,
        }
    }

    /// The code for an integer received from a peer, if it is one of ours.
    pub const fn from_code(code: i64) -> Option<ErrorCode> {
        match code {
            PARSE_ERROR => Some(ErrorCode::ParseError),
            INVALID_REQUEST => Some(ErrorCode::InvalidRequest),
            METHOD_NOT_FOUND => Some(ErrorCode::MethodNotFound),
            INVALID_PARAMS => Some(ErrorCode::InvalidParams),
            INTERNAL_ERROR => Some(ErrorCode::InternalError),
            RATE_LIMITED => Some(ErrorCode::RateLimited),
            SERVER_ERROR => Some(ErrorCode::ServerError),
            _ => None,
        }
    }

    /// The specification's short message for the code, used when nothing more precise is
    /// known.
    pub const fn default_message(self) -> &'static str {
        match self {
            ErrorCode::ParseError => "Parse error",
            ErrorCode::InvalidRequest => "Invalid Request",
            ErrorCode::MethodNotFound => "Method not found",
            ErrorCode::InvalidParams => "Invalid params",
            ErrorCode::InternalError => "Internal error",
            ErrorCode::RateLimited => "Rate limited",
            ErrorCode::ServerError => "Server error",
        }
    }

    /// A snake_case name, stable and low-cardinality: the `error_type` label value of
    /// `p2p_errors_total` for an error reply with this code.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ParseError => "parse_error",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::MethodNotFound => "method_not_found",
            ErrorCode::InvalidParams => "invalid_params",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ServerError => "server_error",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.default_message(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_the_original_system() {
        let table = [
            (ErrorCode::ParseError, -32700, "parse_error"),
            (ErrorCode::InvalidRequest, -32600, "invalid_request"),
            (ErrorCode::MethodNotFound, -32601, "method_not_found"),
            (ErrorCode::InvalidParams, -32602, "invalid_params"),
            (ErrorCode::InternalError, -32603, "internal_error"),
            (ErrorCode::RateLimited, -32005, "rate_limited"),
            (ErrorCode::ServerError, -32001, "server_error"),
        ];
        assert_eq!(table.len(), ErrorCode::ALL.len());
        for (code, raw, label) in table {
            assert_eq!(code.code(), raw);
            assert_eq!(ErrorCode::from_code(raw), Some(code));
            assert_eq!(code.as_str(), label);
        }
        assert_eq!(ErrorCode::from_code(-32000), None);
        assert_eq!(ErrorCode::from_code(0), None);
    }
}
