//! [`NatsCluster`]: three real nats-servers joined into a JetStream cluster keep an R3 stream
//! writable when one of them is killed, and the killed one comes back on its ports.

use std::time::Duration;

use vigil_peers::NatsCluster;

#[tokio::test]
async fn an_r3_stream_takes_writes_with_one_server_lost() {
    let mut cluster = NatsCluster::start(3);
    assert_eq!(cluster.urls().split(',').count(), 3);
    let js = cluster.jetstream().await;
    let stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: "R3".into(),
            subjects: vec!["r3.>".into()],
            num_replicas: 3,
            ..Default::default()
        })
        .await
        .expect("an R3 stream on three servers");
    let leader = stream
        .cached_info()
        .cluster
        .as_ref()
        .and_then(|c| c.leader.clone())
        .expect("the stream has a leader");
    let lost: usize = leader
        .trim_start_matches('n')
        .parse::<usize>()
        .expect("n<i>")
        - 1;
    cluster.kill(lost);
    // The other two elect a new leader; a publish goes through once they have.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let acked = match js.publish("r3.a", "after the loss".into()).await {
            Ok(ack) => ack.await.is_ok(),
            Err(_) => false,
        };
        if acked {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no write with {leader} lost"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.restart(lost);
}
