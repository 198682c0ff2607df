namespace js store

typedef string Key

enum Kind {
  TEXT = 1,
  JSON = 2,
}

struct Entry {
  1: required Key key,
  2: string value,
  3: optional Kind kind,
  4: i32 ttlSeconds = 3600,
}

exception NotFound {
  1: Key key,
  2: string message,
}

service Store {
  Entry get(1: Key key) throws (1: NotFound notFound),
  void put(1: Entry entry),
  list<Entry> scan(1: Key fromKey, 2: i32 limit = 10, 3: optional Key cursor),
}
