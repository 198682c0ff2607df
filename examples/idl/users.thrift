namespace js users
namespace py users

enum Role {
  READER = 1,
  WRITER = 2,
  ADMIN = 3
}

struct User {
  1: required i64 id,
  2: required string name,
  3: optional string email,
  4: set<Role> roles = [Role.READER],
}

exception UserNotFound {
  1: i64 id,
  2: string message,
}

service UserService {
  User createUser(1: string name, 2: string email),
  User getUser(1: i64 id) throws (1: UserNotFound notFound),
  list<User> listUsers(1: i32 limit = 10),
  string slow(1: i32 ms),
}
