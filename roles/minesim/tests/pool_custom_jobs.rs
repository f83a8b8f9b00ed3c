//! The pool's side of job declaration: work selection at setup per policy, `SetCustomMiningJob`
//! checked against the JDS registry and the followed template provider's tip, shares on custom
//! jobs, and a pool that follows a template provider's chain and submits its blocks there.

mod jd_client;
mod pool_client;
mod sv2_client;
mod tp_client;

use bitcoin::{Amount, ScriptBuf, TxOut};
use common_messages_sv2::Protocol;
use jd_client::{CustomWork, JdClient};
use minesim::chain::SyntheticChain;
use minesim::jds::{DeclaredJobs, Jds, JdsConfig, JdsHandle};
use minesim::pool::{default_coinbase_script_pubkey, CustomJobs, Pool, PoolConfig};
use minesim::template_provider::{TemplateProviderHandle, REGTEST_NBITS};
use mining_sv2::SubmitSharesExtendedOwned;
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, MiningOwned};
use pool_client::{Client, ExtendedWork};
use tp_client::{TpClient, Work};
use work::Target;

/// `REQUIRES_WORK_SELECTION` on a mining `SetupConnection`.
const WORK_SELECTION: u32 = 1 << 1;

async fn setup_reply(addr: std::net::SocketAddr, flags: u32) -> (Client, AnyMessageOwned) {
    let mut c = Client::connect(addr).await;
    let reply = sv2_client::setup_with_flags(
        &mut c.rd,
        &mut c.wr,
        Protocol::MiningProtocol,
        flags,
        "jdc-test",
        "",
    )
    .await;
    (c, reply)
}

async fn work_selecting_client(addr: std::net::SocketAddr) -> Client {
    let (c, reply) = setup_reply(addr, WORK_SELECTION).await;
    sv2_client::expect_setup_success(reply);
    c
}

/// The pool's answer to a `SetCustomMiningJob`: the job id, or the error code.
async fn custom_job_reply(c: &mut Client) -> Result<u32, String> {
    loop {
        match c.recv_mining().await {
            MiningOwned::SetCustomMiningJobSuccess(ok) => return Ok(ok.job_id),
            MiningOwned::SetCustomMiningJobError(e) => return Err(e.error_code.as_utf8_or_hex()),
            // Acknowledgements and the pool's own jobs go on meanwhile.
            _ => continue,
        }
    }
}

fn full_extranonce_size(ch: &ExtendedWork) -> usize {
    ch.open.extranonce_prefix.as_bytes().len() + ch.open.extranonce_size as usize
}

/// A share on custom job `job_id` meeting the channel target: (message, full extranonce).
fn custom_share(ch: &ExtendedWork, job: &CustomWork, job_id: u32, seq: u32) -> MiningOwned {
    let rollable = vec![0x5a; ch.open.extranonce_size as usize];
    let mut full = ch.open.extranonce_prefix.as_bytes().to_vec();
    full.extend_from_slice(&rollable);
    let target = ch.target();
    let nonce = (0..u32::MAX)
        .find(|&n| target.is_met_by(&job.header(&full, n).hash()))
        .expect("a nonce");
    MiningOwned::SubmitSharesExtended(SubmitSharesExtendedOwned {
        channel_id: ch.open.channel_id,
        sequence_number: seq,
        job_id,
        nonce,
        ntime: job.work.prev.header_timestamp,
        version: job.work.template.version,
        extranonce: rollable.try_into().unwrap(),
    })
}

/// A template provider, a JDS and a pool that follows the provider and takes the JDS's tokens.
struct JdStack {
    tp: TemplateProviderHandle,
    jds: JdsHandle,
    pool: minesim::pool::PoolHandle,
}

async fn jd_stack(tp_nbits: u32) -> JdStack {
    let mut tp_config = tp_client::test_config();
    tp_config.nbits = tp_nbits;
    let tp = tp_client::start(tp_config).await;
    let registry = DeclaredJobs::new(64);
    let mut jds_config = JdsConfig::new("127.0.0.1:0".parse().unwrap());
    jds_config.declared_jobs = registry.clone();
    let jds = Jds::start(jds_config).await.unwrap();
    let mut pool_config = pool_client::test_config();
    pool_config.custom_jobs = CustomJobs::Registry(registry);
    pool_config.follow_chain = Some(tp.chain());
    let pool = pool_client::start(pool_config).await;
    JdStack { tp, jds, pool }
}

/// The provider's current work and a custom job on it for channel `ch`, paying the JDS's outputs.
async fn custom_work(stack: &JdStack, jd: &mut JdClient, ch: &ExtendedWork) -> CustomWork {
    let mut tpc = TpClient::ready(stack.tp.local_addr()).await;
    let work = tpc.recv_work().await;
    let txs = tpc.transactions(work.template.template_id).await;
    let outputs = jd.allocate(100).await.coinbase_outputs.as_bytes().to_vec();
    CustomWork::new(work, txs, &outputs, full_extranonce_size(ch))
}

#[tokio::test]
async fn work_selection_is_refused_unless_the_pool_takes_custom_jobs() {
    let pool = pool_client::start(pool_client::test_config()).await;
    let (_c, reply) = setup_reply(pool.local_addr(), WORK_SELECTION).await;
    match reply {
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionError(e)) => {
            assert_eq!(e.error_code.as_utf8_or_hex(), "unsupported-feature-flags");
            assert_eq!(e.flags, WORK_SELECTION);
        }
        other => panic!("expected SetupConnection.Error, got {other}"),
    }
    // Without the flag the same pool serves as before.
    let (_c, reply) = setup_reply(pool.local_addr(), 0).await;
    sv2_client::expect_setup_success(reply);
    pool.shutdown().await;

    let mut config = pool_client::test_config();
    config.custom_jobs = CustomJobs::AcceptAnyToken;
    let pool = pool_client::start(config).await;
    let _c = work_selecting_client(pool.local_addr()).await;
    pool.shutdown().await;
}

#[tokio::test]
async fn any_token_is_taken_on_a_pool_without_a_jds_but_only_from_work_selecting_clients() {
    let mut config = pool_client::test_config();
    config.custom_jobs = CustomJobs::AcceptAnyToken;
    let pool = pool_client::start(config).await;
    let stats = pool.stats();
    // A job on a chain of its own: a pool that does not follow a provider checks no tip.
    let chain = SyntheticChain::new(500, REGTEST_NBITS);
    let tip = chain.tip();
    let work = Work {
        template: tip.template.clone(),
        prev: tip.prev_hash.clone(),
    };
    let txs = tip.transactions.iter().map(|t| t.tx.clone()).collect();
    let outputs = bitcoin::consensus::encode::serialize(&vec![TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::from_bytes(default_coinbase_script_pubkey()),
    }]);

    let mut c = work_selecting_client(pool.local_addr()).await;
    let ch = c.extended_channel("any").await;
    let job = CustomWork::new(work, txs, &outputs, full_extranonce_size(&ch));
    c.send(job.set_custom_job(ch.open.channel_id, 1, vec![1, 2, 3]))
        .await;
    let job_id = custom_job_reply(&mut c).await.expect("custom job accepted");
    c.send(custom_share(&ch, &job, job_id, 1)).await;
    assert!(tp_client::wait_for(|| stats.custom_job_shares() == 1).await);

    // A standard client cannot set custom jobs, even on this pool.
    let mut plain = Client::connect_and_setup(pool.local_addr()).await;
    let other = plain.extended_channel("plain").await;
    plain
        .send(job.set_custom_job(other.open.channel_id, 2, vec![1]))
        .await;
    assert_eq!(
        custom_job_reply(&mut plain).await.unwrap_err(),
        "jd-not-supported"
    );
    // Nor can a channel that is not there.
    c.send(job.set_custom_job(999, 3, vec![1])).await;
    assert_eq!(
        custom_job_reply(&mut c).await.unwrap_err(),
        "invalid-channel-id"
    );
    assert_eq!(stats.custom_jobs_accepted(), 1);
    assert_eq!(stats.custom_jobs_refused(), 2);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_declared_job_is_taken_with_its_token_and_shares_on_it_count() {
    let stack = jd_stack(tp_client::HARD_NBITS).await;
    let stats = stack.pool.stats();
    let mut c = work_selecting_client(stack.pool.local_addr()).await;
    let ch = c.extended_channel("declared").await;
    let mut jd = JdClient::ready(stack.jds.local_addr()).await;
    let job = custom_work(&stack, &mut jd, &ch).await;
    // Pool jobs and declared jobs share the provider's tip.
    assert_eq!(ch.prev.prev_hash, job.work.prev.prev_hash);

    // An unknown token.
    c.send(job.set_custom_job(ch.open.channel_id, 1, vec![7; 16]))
        .await;
    assert_eq!(
        custom_job_reply(&mut c).await.unwrap_err(),
        "invalid-mining-job-token"
    );

    // The declared job, with the token the JDS gave.
    let token = jd.declare_fully(&job, 2).await;
    c.send(job.set_custom_job(ch.open.channel_id, 2, token.clone()))
        .await;
    let job_id = custom_job_reply(&mut c).await.expect("custom job accepted");
    c.send(custom_share(&ch, &job, job_id, 1)).await;
    assert!(tp_client::wait_for(|| stats.custom_job_shares() == 1).await);
    assert_eq!(stats.user("declared").unwrap().accepted_shares, 1);

    // The token names a job paying the pool; a job paying someone else under it is refused.
    let mut diverted = job.clone();
    diverted.outputs[0].script_pubkey = ScriptBuf::from_bytes(vec![0x51]);
    c.send(diverted.set_custom_job(ch.open.channel_id, 3, token.clone()))
        .await;
    assert_eq!(
        custom_job_reply(&mut c).await.unwrap_err(),
        "invalid-coinbase-tx-outputs"
    );

    // A job on a prev hash that is not the provider's tip.
    let mut stale = job.clone();
    stale.work.prev.prev_hash = binary_sv2::U256Owned::from([7u8; 32]);
    c.send(stale.set_custom_job(ch.open.channel_id, 4, token))
        .await;
    assert_eq!(
        custom_job_reply(&mut c).await.unwrap_err(),
        "stale-chain-tip"
    );

    assert_eq!(stats.custom_jobs_accepted(), 1);
    assert_eq!(
        stats.custom_jobs_refused_with("invalid-mining-job-token"),
        1
    );
    assert_eq!(stats.custom_jobs_refused(), 3);
    // The pool's own job on the channel is still good.
    let rollable = vec![1u8; ch.open.extranonce_size as usize];
    let nonce = ch.grind(&rollable, 0, true);
    c.send(ch.share(2, &rollable, nonce)).await;
    assert!(tp_client::wait_for(|| stats.user("declared").unwrap().accepted_shares == 2).await);
    stack.pool.shutdown().await;
    stack.jds.shutdown().await;
    stack.tp.shutdown().await;
}

#[tokio::test]
async fn a_pool_following_a_provider_mines_its_tips_and_submits_blocks_there() {
    let stack = jd_stack(REGTEST_NBITS).await;
    let (tp_stats, pool_stats) = (stack.tp.stats(), stack.pool.stats());
    assert_eq!(pool_stats.tip_height(), tp_stats.tip_height());
    let mut c = Client::connect_and_setup(stack.pool.local_addr()).await;
    let ch = c.extended_channel("follower").await;
    let tip = stack.tp.chain().current();
    assert_eq!(ch.prev.prev_hash.as_bytes(), tip.prev_hash_bytes());
    assert_eq!(ch.prev.nbits, REGTEST_NBITS);

    // With regtest's target every share is a block: it goes to the provider, whose next tip
    // the pool's channel moves to.
    let rollable = vec![3u8; ch.open.extranonce_size as usize];
    let nonce = ch.grind(&rollable, 0, true);
    let hash = ch.header(&rollable, nonce).hash();
    assert!(Target::from_compact(REGTEST_NBITS)
        .unwrap()
        .is_met_by(&hash));
    c.send(ch.share(1, &rollable, nonce)).await;
    let prev = loop {
        if let MiningOwned::SetNewPrevHash(p) = c.recv_mining().await {
            break p;
        }
    };
    assert_eq!(prev.prev_hash.as_bytes(), hash);
    assert_eq!(tp_stats.blocks_found_total(), 1);
    assert_eq!(tp_stats.blocks_found()[0].hash, hash);
    assert_eq!(pool_stats.blocks_found(), 1);
    assert!(tp_client::wait_for(|| pool_stats.tip_height() == tp_stats.tip_height()).await);
    assert_eq!(tp_stats.tip_height(), u64::from(tip.height) + 1);

    // A block found by another provider client moves the pool too.
    let mut tpc = TpClient::ready(stack.tp.local_addr()).await;
    let work = tpc.recv_work().await;
    let (solution, other_hash) = work.solve(b"elsewhere");
    tpc.send(solution).await;
    let prev = loop {
        if let MiningOwned::SetNewPrevHash(p) = c.recv_mining().await {
            break p;
        }
    };
    assert_eq!(prev.prev_hash.as_bytes(), other_hash);
    stack.pool.shutdown().await;
    stack.jds.shutdown().await;
    stack.tp.shutdown().await;
}

#[tokio::test]
async fn following_a_provider_excludes_a_block_interval() {
    let tp = tp_client::start(tp_client::test_config()).await;
    let mut config = PoolConfig::new("127.0.0.1:0".parse().unwrap());
    config.follow_chain = Some(tp.chain());
    config.block_interval = Some(std::time::Duration::from_secs(1));
    assert!(Pool::start(config).await.is_err());
    tp.shutdown().await;
}
