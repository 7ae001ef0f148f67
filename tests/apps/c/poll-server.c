/* An echo server in C on poll(2): one thread, non-blocking sockets, any number of clients at once.
 *
 * Usage: c-poll-server PORT (0 picks a free port). Prints "c-poll-server: listening on
 * 0.0.0.0:PORT" once it accepts connections, then echoes every byte each client sends until killed.
 * A client whose echo cannot be written yet is not read from until it is (so a slow reader never
 * makes the server buffer more than one read per client). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 16384

struct client {
    char buf[BUF_SIZE]; /* read but not yet echoed: buf[off..len) */
    size_t off, len;
};

/* pfds[0] is the listener; pfds[i] and clients[i] (i >= 1) belong together. */
static struct pollfd *pfds;
static struct client **clients;
static size_t count, capacity;

static int set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int add_client(int fd) {
    if (count == capacity) {
        size_t n = capacity ? capacity * 2 : 64;
        struct pollfd *p = realloc(pfds, n * sizeof *p);
        if (!p) return -1;
        pfds = p;
        struct client **c = realloc(clients, n * sizeof *c);
        if (!c) return -1;
        clients = c;
        capacity = n;
    }
    struct client *c = calloc(1, sizeof *c);
    if (!c) return -1;
    pfds[count] = (struct pollfd){.fd = fd, .events = POLLIN};
    clients[count] = c;
    count++;
    return 0;
}

static void remove_client(size_t i) {
    close(pfds[i].fd);
    free(clients[i]);
    count--;
    pfds[i] = pfds[count];
    clients[i] = clients[count];
}

/* Writes what client i has pending; 0 when all went out or the rest must wait, -1 on error. */
static int flush(size_t i) {
    struct client *c = clients[i];
    while (c->off < c->len) {
        ssize_t n = send(pfds[i].fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return -1;
        }
        c->off += (size_t)n;
    }
    if (c->off == c->len) {
        c->off = c->len = 0;
        pfds[i].events = POLLIN;
    } else {
        pfds[i].events = POLLOUT;
    }
    return 0;
}

/* Serves readiness on client i; returns -1 when the client is done (EOF or error). */
static int serve(size_t i) {
    struct client *c = clients[i];
    if (c->len > 0) return flush(i);
    ssize_t n = recv(pfds[i].fd, c->buf, BUF_SIZE, 0);
    if (n == 0) return -1;
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    c->len = (size_t)n;
    return flush(i);
}

static void accept_all(int listener) {
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return;
            /* Out of descriptors or memory: stop accepting until a client leaves. */
            fprintf(stderr, "c-poll-server: accept: %s\n", strerror(errno));
            pfds[0].events = 0;
            return;
        }
        if (set_nonblocking(fd) < 0 || add_client(fd) < 0) {
            fprintf(stderr, "c-poll-server: cannot serve a new client: %s\n", strerror(errno));
            close(fd);
            return;
        }
    }
}

int main(int argc, char **argv) {
    char *end;
    long port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc != 2 || *argv[1] == '\0' || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "usage: c-poll-server PORT\n");
        return 2;
    }
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) {
        perror("c-poll-server: socket");
        return 1;
    }
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                               .sin_addr.s_addr = htonl(INADDR_ANY)};
    socklen_t len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 128) < 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &len) < 0 || set_nonblocking(listener) < 0) {
        fprintf(stderr, "c-poll-server: listening on port %ld: %s\n", port, strerror(errno));
        return 1;
    }
    if (add_client(listener) < 0) {
        perror("c-poll-server: out of memory");
        return 1;
    }
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
    printf("c-poll-server: listening on %s:%u\n", ip, (unsigned)ntohs(addr.sin_port));
    fflush(stdout);

    for (;;) {
        if (poll(pfds, count, -1) < 0) {
            if (errno == EINTR) continue;
            perror("c-poll-server: poll");
            return 1;
        }
        /* Walk down so that removing client i (the last one moves into i) skips nobody. */
        for (size_t i = count - 1; i >= 1; i--) {
            if (pfds[i].revents && serve(i) < 0) {
                remove_client(i);
                pfds[0].events = POLLIN; /* a descriptor is free again */
            }
        }
        if (pfds[0].revents & POLLIN) accept_all(listener);
    }
}
