//! Turns a parsed Stratum V1 line into the core's owned [`DeviceRequest`].

use sv1::{ClientMessage, ClientRequest, Sv1Error};

use crate::core::{DeviceRequest, Submit};

/// What to do with a line that did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadLine {
    /// Not JSON-RPC at all: the stream cannot be trusted, close the device.
    Garbage,
    /// A well-formed message with bad parameters: answer an error, keep the device.
    BadParams,
}

pub fn classify(error: &Sv1Error) -> BadLine {
    match error {
        Sv1Error::LineTooLong { .. }
        | Sv1Error::NotUtf8
        | Sv1Error::Json(_)
        | Sv1Error::NotAMessage
        | Sv1Error::InvalidId => BadLine::Garbage,
        _ => BadLine::BadParams,
    }
}

pub fn to_device_request(request: ClientRequest<'_>) -> DeviceRequest {
    let id = request.id.into_owned();
    match request.message {
        ClientMessage::Subscribe { user_agent, .. } => DeviceRequest::Subscribe {
            id,
            user_agent: user_agent.map(|ua| ua.into_owned()),
        },
        ClientMessage::Authorize { user, .. } => DeviceRequest::Authorize {
            id,
            user: user.into_owned(),
        },
        ClientMessage::Configure(configure) => DeviceRequest::Configure {
            id,
            version_rolling_mask: configure
                .version_rolling
                .map(|v| v.mask.unwrap_or(sv1::DEFAULT_VERSION_MASK)),
            minimum_difficulty: configure.minimum_difficulty,
            unsupported: configure.unknown_extensions().map(str::to_owned).collect(),
            subscribe_extranonce: configure.subscribe_extranonce,
            info: configure.info.is_some(),
        },
        ClientMessage::ExtranonceSubscribe => DeviceRequest::ExtranonceSubscribe { id },
        ClientMessage::SuggestDifficulty { difficulty } => {
            DeviceRequest::SuggestDifficulty { id, difficulty }
        }
        ClientMessage::Submit(submit) => DeviceRequest::Submit {
            id,
            submit: Submit {
                job_id: submit.job_id.into_owned(),
                extranonce2: submit.extranonce2,
                ntime: submit.ntime,
                nonce: submit.nonce,
                version_bits: submit.version_bits,
            },
        },
        ClientMessage::Unknown { method } => DeviceRequest::Unknown {
            id,
            method: method.into_owned(),
        },
    }
}
