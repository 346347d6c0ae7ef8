/* Unit tests of the duplicate rule between two nodes that dial each other at once
 * (chum_conn_duplicate_keep_old, src/conn/frame.c; spec/connection.md §10). Both nodes are
 * simulated: for every order in which each learns the identity on the two crossed
 * connections, both must keep the same connection. */
#include "chum/conn.h"
#include "check.h"

#include <string.h>

#define SMALL "3dcd4d4c59c5aefd00000000000000000000000000000000000000000000000a"
#define LARGE "db793ee9865d7ee300000000000000000000000000000000000000000000000b"

/* One node's decision: sessions X (dialled by this node when |x_dialled_by_me|) and Y arrive in that order
 * (|first_is_x|); returns which one it keeps: 'X' or 'Y' (or '-' for none). */
static char node_keeps(const char *me, const char *peer, bool x_dialled_by_me, bool first_is_x,
                       uint64_t gap_ms) {
  bool first_out = first_is_x ? x_dialled_by_me : !x_dialled_by_me;
  bool second_out = !first_out;
  int keep_old = chum_conn_duplicate_keep_old(first_out, second_out, 1000, 1000 + gap_ms, me, peer);
  char first = first_is_x ? 'X' : 'Y', second = first_is_x ? 'Y' : 'X';
  return keep_old ? first : second;
}

TEST(crossed_dials_keep_the_same_connection_on_both_nodes) {
  /* X is dialled by the small ID's node, Y by the large one's */
  for (int order_small = 0; order_small < 2; order_small++)
    for (int order_large = 0; order_large < 2; order_large++)
      for (uint64_t gap = 0; gap < 2000; gap += 250) {
        char a = node_keeps(SMALL, LARGE, true, order_small == 0, gap);
        char b = node_keeps(LARGE, SMALL, false, order_large == 0, gap);
        CHECK_EQ(a, b);
        CHECK_EQ(a, 'X'); /* the smaller person ID's dial */
      }
}

TEST(the_order_that_kills_both_under_the_plain_rule) {
  /* the usual crossing: each node is the acceptor of the other's dial and learns the
   * identity there first (small node: Y first; large node: X first). The plain rule keeps
   * the first on each: different connections, both closed. */
  char plain_small = chum_conn_duplicate_drop_new(1000, 1100) ? 'Y' : 'X';
  char plain_large = chum_conn_duplicate_drop_new(1000, 1100) ? 'X' : 'Y';
  CHECK(plain_small != plain_large);
  char a = node_keeps(SMALL, LARGE, true, false, 100);
  char b = node_keeps(LARGE, SMALL, false, true, 100);
  CHECK_EQ(a, 'X');
  CHECK_EQ(b, 'X');
}

TEST(same_direction_and_window_follow_the_spec) {
  /* two sessions in the same direction (e.g. a peer that reconnected): the first keeps its
   * place for 2 s, then a new one replaces it */
  CHECK_EQ(chum_conn_duplicate_keep_old(true, true, 1000, 2999, SMALL, LARGE), 1);
  CHECK_EQ(chum_conn_duplicate_keep_old(false, false, 1000, 2999, LARGE, SMALL), 1);
  CHECK_EQ(chum_conn_duplicate_keep_old(true, true, 1000, 3000, SMALL, LARGE), 0);
  /* crossed, but older than the window: the new one replaces the old one (spec) */
  CHECK_EQ(chum_conn_duplicate_keep_old(true, false, 1000, 3000, SMALL, LARGE), 0);
  CHECK_EQ(chum_conn_duplicate_keep_old(false, true, 1000, 3500, LARGE, SMALL), 0);
  /* inside: the small node keeps its own dial and drops the incoming one ... */
  CHECK_EQ(chum_conn_duplicate_keep_old(true, false, 1000, 1500, SMALL, LARGE), 1);
  /* ... and replaces an incoming one with its own */
  CHECK_EQ(chum_conn_duplicate_keep_old(false, true, 1000, 1500, SMALL, LARGE), 0);
  /* the large node drops its own dial for the small node's */
  CHECK_EQ(chum_conn_duplicate_keep_old(true, false, 1000, 1500, LARGE, SMALL), 0);
  CHECK_EQ(chum_conn_duplicate_keep_old(false, true, 1000, 1500, LARGE, SMALL), 1);
  /* no person IDs: the spec's rule */
  CHECK_EQ(chum_conn_duplicate_keep_old(false, true, 1000, 1500, NULL, SMALL), 1);
}

int main(void) {
  RUN(crossed_dials_keep_the_same_connection_on_both_nodes);
  RUN(the_order_that_kills_both_under_the_plain_rule);
  RUN(same_direction_and_window_follow_the_spec);
  return chum_check_finish();
}
