/*
 * A program written only against the SVR4 STREAMS calls (stropts.h, us_ prefix): a STREAMS
 * pipe, the "null" module pushed on one end, and a ping-pong of messages between two threads
 * with getmsg/putmsg and read/write, then I_LIST to show what the stream holds.
 *
 *   pingpong [rounds]      (default 1000); prints a summary and exits 0 on success
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streams/stropts.h"

static int fds[2];

static void* echo_side(void* arg) {
  long rounds = (long)arg;
  char buf[64];
  for (long i = 0; i < rounds; i++) {
    struct strbuf ctl = {sizeof(buf), 0, buf}, data = {0, 0, NULL};
    int flags = 0;
    /* The ping arrives as a control part: answer with the same bytes as data. */
    if (us_getmsg(fds[1], &ctl, &data, &flags) < 0) {
      perror("getmsg");
      exit(1);
    }
    if (us_write(fds[1], buf, (size_t)ctl.len) != ctl.len) {
      perror("write");
      exit(1);
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  long rounds = argc > 1 ? atol(argv[1]) : 1000;
  if (us_pipe(fds) < 0) {
    perror("pipe");
    return 1;
  }
  if (us_ioctl(fds[0], I_PUSH, "null") < 0) {
    perror("I_PUSH null");
    return 1;
  }
  pthread_t t;
  pthread_create(&t, NULL, echo_side, (void*)rounds);
  char msg[32], back[32];
  for (long i = 0; i < rounds; i++) {
    int n = snprintf(msg, sizeof(msg), "ping %ld", i);
    struct strbuf ctl = {0, n, msg};
    if (us_putmsg(fds[0], &ctl, NULL, 0) < 0) {
      perror("putmsg");
      return 1;
    }
    ssize_t r = us_read(fds[0], back, sizeof(back));
    if (r != n || memcmp(back, msg, (size_t)n) != 0) {
      fprintf(stderr, "round %ld: got %zd bytes back\n", i, r);
      return 1;
    }
  }
  pthread_join(t, NULL);
  struct str_mlist names[4];
  struct str_list list = {4, names};
  if (us_ioctl(fds[0], I_LIST, &list) < 0) {
    perror("I_LIST");
    return 1;
  }
  printf("%ld round trips over a STREAMS pipe; modules on end 0:", rounds);
  for (int i = 0; i < list.sl_nmods; i++) printf(" %s", names[i].l_name);
  printf("\n");
  us_close(fds[0]);
  us_close(fds[1]);
  return 0;
}
