//! Conversions between SRI's wire types (parsers_sv2 / mining_sv2 / common_messages_sv2) and the
//! core's owned SV2 downstream messages.

use binary_sv2::{Seq0255Owned, Str0255Owned, Sv2OptionOwned, U256Owned};
use common_messages_sv2::{ReconnectOwned, SetupConnectionErrorOwned, SetupConnectionSuccessOwned};
use mining_sv2::{
    NewExtendedMiningJobOwned, NewMiningJobOwned, OpenExtendedMiningChannelSuccessOwned,
    OpenMiningChannelErrorOwned, OpenStandardMiningChannelSuccessOwned, SetNewPrevHashOwned,
    SetTargetOwned, SubmitSharesErrorOwned, SubmitSharesSuccessOwned, UpdateChannelErrorOwned,
};
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, MiningOwned};

use crate::core::{Sv2Message, Sv2Request, Sv2Submit};

/// A core message that does not fit its wire type (a field too long); never expected, since the
/// core builds them within the spec's limits, but never a panic either.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {0}: a field exceeds its SV2 size limit")]
pub struct WireError(&'static str);

fn bytes_of(field: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let n = field.len().min(32);
    out[..n].copy_from_slice(&field[..n]);
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What a downstream sent, in the core's terms.
pub fn request_from_wire(message: AnyMessageOwned) -> Sv2Request {
    match message {
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnection(m)) => {
            Sv2Request::SetupConnection {
                protocol: m.protocol as u8,
                min_version: m.min_version,
                max_version: m.max_version,
                flags: m.flags,
                device_info: format!(
                    "{} {} {}",
                    text(m.vendor.as_bytes()),
                    text(m.hardware_version.as_bytes()),
                    text(m.firmware.as_bytes())
                )
                .trim()
                .to_string(),
            }
        }
        AnyMessageOwned::Mining(MiningOwned::OpenStandardMiningChannel(m)) => {
            Sv2Request::OpenStandardChannel {
                request_id: m.request_id,
                user_identity: text(m.user_identity.as_bytes()),
                nominal_hash_rate: m.nominal_hash_rate,
                max_target: bytes_of(m.max_target.as_bytes()),
            }
        }
        AnyMessageOwned::Mining(MiningOwned::OpenExtendedMiningChannel(m)) => {
            Sv2Request::OpenExtendedChannel {
                request_id: m.request_id,
                user_identity: text(m.user_identity.as_bytes()),
                nominal_hash_rate: m.nominal_hash_rate,
                max_target: bytes_of(m.max_target.as_bytes()),
                min_extranonce_size: m.min_extranonce_size,
            }
        }
        AnyMessageOwned::Mining(MiningOwned::UpdateChannel(m)) => Sv2Request::UpdateChannel {
            channel_id: m.channel_id,
            nominal_hash_rate: m.nominal_hash_rate,
            maximum_target: bytes_of(m.maximum_target.as_bytes()),
        },
        AnyMessageOwned::Mining(MiningOwned::CloseChannel(m)) => Sv2Request::CloseChannel {
            channel_id: m.channel_id,
            reason: text(m.reason_code.as_bytes()),
        },
        AnyMessageOwned::Mining(MiningOwned::SubmitSharesStandard(m)) => {
            Sv2Request::SubmitShares(Sv2Submit {
                channel_id: m.channel_id,
                sequence_number: m.sequence_number,
                job_id: m.job_id,
                nonce: m.nonce,
                ntime: m.ntime,
                version: m.version,
                extranonce: None,
            })
        }
        AnyMessageOwned::Mining(MiningOwned::SubmitSharesExtended(m)) => {
            Sv2Request::SubmitShares(Sv2Submit {
                channel_id: m.channel_id,
                sequence_number: m.sequence_number,
                job_id: m.job_id,
                nonce: m.nonce,
                ntime: m.ntime,
                version: m.version,
                extranonce: Some(m.extranonce.as_bytes().to_vec()),
            })
        }
        AnyMessageOwned::Common(_) => Sv2Request::Unexpected {
            name: "a common message other than SetupConnection",
        },
        AnyMessageOwned::Mining(_) => Sv2Request::Unexpected {
            name: "a mining message meant for a downstream",
        },
        _ => Sv2Request::Unexpected {
            name: "a message of another sub-protocol",
        },
    }
}

/// The wire form of what the core sends.
pub fn message_to_wire(message: Sv2Message) -> Result<AnyMessageOwned, WireError> {
    let mining = |m: MiningOwned| AnyMessageOwned::Mining(m);
    Ok(match message {
        Sv2Message::SetupConnectionSuccess {
            used_version,
            flags,
        } => AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionSuccess(
            SetupConnectionSuccessOwned {
                used_version,
                flags,
            },
        )),
        Sv2Message::SetupConnectionError { flags, code } => AnyMessageOwned::Common(
            CommonMessagesOwned::SetupConnectionError(SetupConnectionErrorOwned {
                flags,
                error_code: code
                    .to_string()
                    .try_into()
                    .map_err(|_| WireError("SetupConnection.Error"))?,
            }),
        ),
        Sv2Message::OpenStandardChannelSuccess {
            request_id,
            channel_id,
            target,
            extranonce_prefix,
            group_channel_id,
        } => mining(MiningOwned::OpenStandardMiningChannelSuccess(
            OpenStandardMiningChannelSuccessOwned {
                request_id,
                channel_id,
                target: U256Owned::from(target.to_le_bytes()),
                extranonce_prefix: extranonce_prefix
                    .try_into()
                    .map_err(|_| WireError("OpenStandardMiningChannel.Success"))?,
                group_channel_id,
            },
        )),
        Sv2Message::OpenExtendedChannelSuccess {
            request_id,
            channel_id,
            target,
            extranonce_size,
            extranonce_prefix,
            group_channel_id,
        } => mining(MiningOwned::OpenExtendedMiningChannelSuccess(
            OpenExtendedMiningChannelSuccessOwned {
                request_id,
                channel_id,
                target: U256Owned::from(target.to_le_bytes()),
                extranonce_size,
                extranonce_prefix: extranonce_prefix
                    .try_into()
                    .map_err(|_| WireError("OpenExtendedMiningChannel.Success"))?,
                group_channel_id,
            },
        )),
        Sv2Message::OpenChannelError { request_id, code } => mining(
            MiningOwned::OpenMiningChannelError(OpenMiningChannelErrorOwned {
                request_id,
                error_code: code
                    .to_string()
                    .try_into()
                    .map_err(|_| WireError("OpenMiningChannel.Error"))?,
            }),
        ),
        Sv2Message::NewMiningJob {
            channel_id,
            job_id,
            min_ntime,
            version,
            merkle_root,
        } => mining(MiningOwned::NewMiningJob(NewMiningJobOwned {
            channel_id,
            job_id,
            min_ntime: Sv2OptionOwned::new(min_ntime),
            version,
            merkle_root: U256Owned::from(merkle_root),
        })),
        Sv2Message::NewExtendedMiningJob {
            channel_id,
            job,
            min_ntime,
        } => {
            let merkle_path = job
                .merkle_path
                .iter()
                .map(|node| U256Owned::from(*node))
                .collect();
            mining(MiningOwned::NewExtendedMiningJob(
                NewExtendedMiningJobOwned {
                    channel_id,
                    job_id: job.id,
                    min_ntime: Sv2OptionOwned::new(min_ntime),
                    version: job.version,
                    version_rolling_allowed: job.version_rolling_allowed,
                    merkle_path: Seq0255Owned::new(merkle_path)
                        .map_err(|_| WireError("NewExtendedMiningJob merkle path"))?,
                    coinbase_tx_prefix: job
                        .coinb1
                        .clone()
                        .try_into()
                        .map_err(|_| WireError("NewExtendedMiningJob coinbase prefix"))?,
                    coinbase_tx_suffix: job
                        .coinb2
                        .clone()
                        .try_into()
                        .map_err(|_| WireError("NewExtendedMiningJob coinbase suffix"))?,
                },
            ))
        }
        Sv2Message::SetNewPrevHash {
            channel_id,
            job_id,
            prev_hash,
            min_ntime,
            nbits,
        } => mining(MiningOwned::SetNewPrevHash(SetNewPrevHashOwned {
            channel_id,
            job_id,
            prev_hash: U256Owned::from(prev_hash),
            min_ntime,
            nbits,
        })),
        Sv2Message::SetTarget { channel_id, target } => {
            mining(MiningOwned::SetTarget(SetTargetOwned {
                channel_id,
                maximum_target: U256Owned::from(target.to_le_bytes()),
            }))
        }
        Sv2Message::SubmitSharesSuccess {
            channel_id,
            last_sequence_number,
            accepted_count,
            shares_sum,
        } => mining(MiningOwned::SubmitSharesSuccess(SubmitSharesSuccessOwned {
            channel_id,
            last_sequence_number,
            new_submits_accepted_count: accepted_count,
            new_shares_sum: shares_sum,
        })),
        Sv2Message::SubmitSharesError {
            channel_id,
            sequence_number,
            code,
        } => mining(MiningOwned::SubmitSharesError(SubmitSharesErrorOwned {
            channel_id,
            sequence_number,
            error_code: code
                .to_string()
                .try_into()
                .map_err(|_| WireError("SubmitShares.Error"))?,
        })),
        Sv2Message::UpdateChannelError { channel_id, code } => {
            mining(MiningOwned::UpdateChannelError(UpdateChannelErrorOwned {
                channel_id,
                error_code: code
                    .to_string()
                    .try_into()
                    .map_err(|_| WireError("UpdateChannel.Error"))?,
            }))
        }
    })
}

/// Reconnect with an empty host and port 0: "come back to this same endpoint".
pub fn reconnect_here() -> Result<AnyMessageOwned, WireError> {
    let new_host = Str0255Owned::try_from(String::new()).map_err(|_| WireError("Reconnect"))?;
    Ok(AnyMessageOwned::Common(CommonMessagesOwned::Reconnect(
        ReconnectOwned {
            new_host,
            new_port: 0,
        },
    )))
}
