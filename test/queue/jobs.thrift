// The service the queue tests send through brokers (and the Python peers in test/peers use).
namespace py jobs

exception Refused {
  1: string why
}

service Jobs {
  oneway void notify(1: i64 id, 2: string payload)
  void work(1: i64 id, 2: i32 sleepMs, 3: string payload) throws (1: Refused refused)
}

service Mixed {
  oneway void notify(1: i64 id, 2: string payload)
  i32 compute(1: i32 x)
}
