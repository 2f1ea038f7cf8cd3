/*
 * crm_relay: the reference consumer of crm's notification outbox.
 *
 * A WeChat Work or DingTalk bot relay is this loop with a webhook call as
 * the --exec command: LISTEN crm_outbox; lease a batch (crm.outbox_claim);
 * deliver each message with its id as the idempotency key; acknowledge it
 * (crm.outbox_ack) or give it back (crm.outbox_nack); when nothing is left,
 * wait for a notification, or for a timeout that picks up the expired
 * leases of relays that died.  README.md next to this file has the protocol.
 *
 * Signals: SIGINT, SIGTERM and SIGCHLD stay blocked except inside ppoll(),
 * so a signal can never slip in between "is there anything to do?" and
 * "wait": it either is seen by the check or interrupts the wait.
 */
#define _GNU_SOURCE				/* memfd_create, pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define MAX_BACKOFF 30			/* seconds between reconnection attempts, at most */

typedef struct Options
{
	const char *conninfo;
	char		consumer[256];
	int			batch;
	int			lease;			/* seconds */
	int			wait;			/* seconds without a NOTIFY before claiming anyway */
	const char *command;
	bool		once;
} Options;

/* One claimed message: pointers into the claim's PGresult. */
typedef struct Message
{
	const char *id;
	const char *topic;
	const char *recipient;		/* NULL: the operations channel */
	const char *payload;		/* JSON text */
	const char *attempt;
} Message;

static volatile sig_atomic_t stopping = 0;
static int	exit_status = 0;
static sigset_t child_mask;		/* the mask we started with, for commands */
static sigset_t wait_mask;		/* the same less our three signals: for ppoll */

/* ---------------------------------------------------------------------
 * Signals and time
 * --------------------------------------------------------------------- */

static void
on_stop(int sig)
{
	(void) sig;
	stopping = 1;
}

/* Does nothing, but unlike SIG_DFL it makes SIGCHLD interrupt ppoll(). */
static void
on_child(int sig)
{
	(void) sig;
}

static void
setup_signals(void)
{
	struct sigaction stop = {.sa_handler = on_stop};
	struct sigaction child = {.sa_handler = on_child};
	sigset_t	ours;

	sigemptyset(&ours);
	sigaddset(&ours, SIGINT);
	sigaddset(&ours, SIGTERM);
	sigaddset(&ours, SIGCHLD);
	sigprocmask(SIG_BLOCK, &ours, &child_mask);
	wait_mask = child_mask;
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGCHLD);
	sigaction(SIGINT, &stop, NULL);
	sigaction(SIGTERM, &stop, NULL);
	sigaction(SIGCHLD, &child, NULL);
	/* a closed stdout or stdin pipe is an error to report, not a death */
	signal(SIGPIPE, SIG_IGN);
}

/* True once SIGINT or SIGTERM came, even if still pending (blocked). */
static bool
stop_requested(void)
{
	sigset_t	pending;

	if (!stopping && sigpending(&pending) == 0 &&
		(sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM)))
		stopping = 1;
	return stopping;
}

static long long
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Waits for fd (if >= 0) to be readable, a signal or ms (-1: no limit). */
static int
wait_fd(int fd, long long ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	return ppoll(&p, fd >= 0 ? 1 : 0, ms < 0 ? NULL : &t, &wait_mask);
}

/* ---------------------------------------------------------------------
 * Options
 * --------------------------------------------------------------------- */

static void
usage(FILE *out)
{
	fprintf(out,
			"usage: crm_relay [-d CONNINFO] [--consumer NAME] [--batch N] [--lease SECONDS]\n"
			"                 [--wait SECONDS] [--exec COMMAND] [--once]\n"
			"Delivers crm.outbox messages.  COMMAND (run by /bin/sh -c) gets the payload\n"
			"JSON on stdin and CRM_MESSAGE_ID, CRM_TOPIC, CRM_RECIPIENT and CRM_ATTEMPT in\n"
			"its environment; exit status 0 acknowledges the message, any other gives it\n"
			"back for a retry.  Without --exec each message is printed as a JSON line.\n"
			"--once drains what is there and exits.  Defaults: consumer host:pid,\n"
			"batch 100, lease 60, wait 30.  The connection also comes from PG* variables.\n");
}

static int
positive(const char *arg, const char *what)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > 1000000)
	{
		fprintf(stderr, "crm_relay: %s must be a whole number from 1 to 1000000, not \"%s\"\n", what, arg);
		exit(2);
	}
	return (int) v;
}

static void
default_consumer(Options *o)
{
	char		host[200] = "";

	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		strcpy(host, "relay");
	snprintf(o->consumer, sizeof(o->consumer), "%s:%d", host, (int) getpid());
}

static void
parse_options(int argc, char **argv, Options *o)
{
	static const struct option longs[] = {
		{"dbname", required_argument, NULL, 'd'}, {"consumer", required_argument, NULL, 'c'},
		{"batch", required_argument, NULL, 'b'}, {"lease", required_argument, NULL, 'l'},
		{"wait", required_argument, NULL, 'w'}, {"exec", required_argument, NULL, 'e'},
		{"once", no_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	*o = (Options) {.batch = 100, .lease = 60, .wait = 30};
	default_consumer(o);
	while ((c = getopt_long(argc, argv, "d:h", longs, NULL)) != -1)
	{
		switch (c)
		{
			case 'd': o->conninfo = optarg; break;
			case 'c': snprintf(o->consumer, sizeof(o->consumer), "%s", optarg); break;
			case 'b': o->batch = positive(optarg, "--batch"); break;
			case 'l': o->lease = positive(optarg, "--lease"); break;
			case 'w': o->wait = positive(optarg, "--wait"); break;
			case 'e': o->command = optarg; break;
			case 'o': o->once = true; break;
			case 'h': usage(stdout); exit(0);
			default: usage(stderr); exit(2);
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "crm_relay: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		exit(2);
	}
}

/* ---------------------------------------------------------------------
 * Connection
 * --------------------------------------------------------------------- */

/* LISTEN first, so that nothing inserted after our next claim goes unnoticed. */
static bool
listen_outbox(PGconn *conn)
{
	PGresult   *res = PQexec(conn, "LISTEN crm_outbox");
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	PQclear(res);
	return ok;
}

/*
 * One attempt; NULL (and a message) on failure.  Signals wait while libpq
 * works, so a connection attempt gets a time limit: 10 s unless
 * PGCONNECT_TIMEOUT or the conninfo (which comes later and wins) says
 * otherwise.  (libpq skips a keyword whose value is NULL.)
 */
static PGconn *
connect_db(const Options *o)
{
	const char *keys[] = {"connect_timeout", "dbname", "fallback_application_name", NULL};
	const char *values[] = {getenv("PGCONNECT_TIMEOUT") ? NULL : "10", o->conninfo, "crm_relay", NULL};
	PGconn	   *conn = PQconnectdbParams(keys, values, 1);

	/* JSON is UTF-8, whatever the locale or the database's encoding */
	if (PQstatus(conn) == CONNECTION_OK && PQsetClientEncoding(conn, "UTF8") == 0 &&
		listen_outbox(conn))
		return conn;
	fprintf(stderr, "crm_relay: cannot connect and LISTEN: %s", PQerrorMessage(conn));
	PQfinish(conn);
	return NULL;
}

/* Sleeps before the next attempt: none the first time, then 1, 2, 4 ... 30 s. */
static void
back_off(int *delay)
{
	if (*delay > 0)
	{
		fprintf(stderr, "crm_relay: retrying in %d s\n", *delay);
		wait_fd(-1, *delay * 1000LL);
	}
	*delay = *delay == 0 ? 1 : (*delay * 2 > MAX_BACKOFF ? MAX_BACKOFF : *delay * 2);
}

/* Frees queued notifications; whether there were any. */
static bool
drain_notifies(PGconn *conn)
{
	PGnotify   *n;
	bool		any = false;

	while ((n = PQnotifies(conn)) != NULL)
	{
		PQfreemem(n);
		any = true;
	}
	return any;
}

/*
 * Waits for a NOTIFY, the timeout or a signal; false when the connection
 * broke.  A NOTIFY that arrived while the last claim ran is already queued
 * in libpq, with nothing left on the socket: look there before sleeping.
 */
static bool
wait_for_notification(PGconn *conn, int seconds)
{
	int			fd = PQsocket(conn);

	if (fd < 0 || !PQconsumeInput(conn))
		return false;
	if (drain_notifies(conn))
		return true;
	if (wait_fd(fd, seconds * 1000LL) < 0 && errno != EINTR)
	{
		perror("crm_relay: waiting for notifications");
		return false;
	}
	if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)
		return false;
	drain_notifies(conn);
	return true;
}

/* ---------------------------------------------------------------------
 * Delivery without --exec: one JSON line on stdout
 * --------------------------------------------------------------------- */

static void
print_json_string(const char *s)
{
	if (s == NULL)
	{
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (; *s; s++)
	{
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char) *s < 0x20)
			printf("\\u%04x", (unsigned char) *s);
		else
			putchar(*s);
	}
	putchar('"');
}

/* A stdout that fails fails for every message: stop rather than nack them all. */
static bool
print_message(const Message *m, char *error, size_t len)
{
	printf("{\"id\": %s, \"topic\": ", m->id);
	print_json_string(m->topic);
	fputs(", \"recipient\": ", stdout);
	print_json_string(m->recipient);
	printf(", \"payload\": %s}\n", m->payload);
	if (fflush(stdout) == 0 && !ferror(stdout))
		return true;
	snprintf(error, len, "cannot write to stdout: %s", strerror(errno));
	fprintf(stderr, "crm_relay: %s\n", error);
	stopping = 1;
	exit_status = 1;
	return false;
}

/* ---------------------------------------------------------------------
 * Delivery with --exec
 * --------------------------------------------------------------------- */

/*
 * The payload goes to the command as a memory file, not a pipe: a command
 * that writes a lot to stderr before reading stdin cannot deadlock with us.
 */
static int
payload_file(const char *payload)
{
	int			fd = memfd_create("crm_relay_payload", MFD_CLOEXEC);
	size_t		len = strlen(payload);

	if (fd < 0)
		return -1;
	if (write(fd, payload, len) != (ssize_t) len || lseek(fd, 0, SEEK_SET) != 0)
	{
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * In the child.  Its own process group: a Ctrl-C meant for the relay lets
 * the delivery finish, and a timeout can kill whatever the command started.
 */
static void
exec_command(const char *command, const Message *m, int in, int err)
{
	setpgid(0, 0);
	sigprocmask(SIG_SETMASK, &child_mask, NULL);
	signal(SIGPIPE, SIG_DFL);	/* an ignored signal would survive exec */
	if (dup2(in, STDIN_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
		_exit(126);
	setenv("CRM_MESSAGE_ID", m->id, 1);
	setenv("CRM_TOPIC", m->topic, 1);
	setenv("CRM_RECIPIENT", m->recipient ? m->recipient : "", 1);
	setenv("CRM_ATTEMPT", m->attempt, 1);
	execl("/bin/sh", "sh", "-c", command, (char *) NULL);
	_exit(127);
}

/*
 * Passes what the command wrote to stderr on to ours, keeping its first
 * line for last_error.  1: read some; 0: end of file (or error); -1: nothing
 * there now.
 */
static int
forward_stderr(int fd, char *first, size_t len)
{
	char		buf[4096];
	ssize_t		n = read(fd, buf, sizeof(buf));
	size_t		have = strlen(first);
	ssize_t		written;

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? -1 : 0;
	if (n == 0)
		return 0;
	written = write(STDERR_FILENO, buf, n);
	(void) written;				/* our own stderr gone: nothing better to do */
	if (have < len - 1 && memchr(first, '\n', have) == NULL)
		memcpy(first + have, buf, (size_t) n < len - 1 - have ? (size_t) n : len - 1 - have);
	return 1;
}

/*
 * Waits for the command, reading its stderr; kills its process group once
 * the deadline passes.  Returns the wait status (-1: lost track of it);
 * *timed_out says it was killed by us.  Stops at the command's exit, not at
 * end of file: something it left running in the background may hold its
 * stderr open.
 */
static int
collect(pid_t pid, int err, long long deadline, char *first, size_t len, bool *timed_out)
{
	int			status = -1;
	pid_t		done;

	*timed_out = false;
	while ((done = waitpid(pid, &status, WNOHANG)) == 0 || (done < 0 && errno == EINTR))
	{
		long long	left = deadline - now_ms();

		if (left <= 0 && !*timed_out)
		{
			kill(-pid, SIGKILL);
			*timed_out = true;
		}
		/* wakes up on output, SIGCHLD, SIGINT/SIGTERM (noted) or the deadline */
		if (wait_fd(err, *timed_out ? -1 : left) > 0 && err >= 0 &&
			forward_stderr(err, first, len) == 0)
		{
			close(err);
			err = -1;
		}
	}
	while (err >= 0 && forward_stderr(err, first, len) > 0)
		;
	if (err >= 0)
		close(err);
	return done == pid ? status : -1;
}

static void
describe_failure(int status, bool timed_out, const char *first, char *error, size_t len)
{
	int			line = (int) strcspn(first, "\n");

	if (timed_out)
		snprintf(error, len, "timed out: still running when the lease ran out");
	else if (status == -1)
		snprintf(error, len, "lost track of the command");
	else if (WIFSIGNALED(status))
		snprintf(error, len, "killed by signal %d", WTERMSIG(status));
	else if (line > 0)
		snprintf(error, len, "exit %d: %.*s", WEXITSTATUS(status), line, first);
	else
		snprintf(error, len, "exit %d", WEXITSTATUS(status));
}

/* Runs the command for one message; true when it exited 0 in time. */
static bool
run_command(const char *command, const Message *m, long long deadline, char *error, size_t len)
{
	char		first[256] = "";
	int			in = payload_file(m->payload);
	int			err[2];
	pid_t		pid;
	bool		timed_out;
	int			status;

	if (in < 0 || pipe2(err, O_CLOEXEC) != 0)
	{
		snprintf(error, len, "cannot pass the payload: %s", strerror(errno));
		if (in >= 0)
			close(in);
		return false;
	}
	if ((pid = fork()) == 0)
		exec_command(command, m, in, err[1]);
	close(in);
	close(err[1]);
	if (pid < 0)
	{
		snprintf(error, len, "cannot start the command: %s", strerror(errno));
		close(err[0]);
		return false;
	}
	setpgid(pid, pid);			/* also here, so that kill(-pid) cannot come first */
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	status = collect(pid, err[0], deadline, first, sizeof(first), &timed_out);
	if (!timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	describe_failure(status, timed_out, first, error, len);
	return false;
}

/* ---------------------------------------------------------------------
 * The protocol
 * --------------------------------------------------------------------- */

/* Acknowledges a delivered message or gives a failed one back; false: SQL failed. */
static bool
settle(PGconn *conn, const Options *o, const Message *m, const char *error)
{
	const char *args[3] = {m->id, o->consumer, error};
	PGresult   *res;
	bool		ok;

	if (error == NULL)
		res = PQexecParams(conn, "SELECT crm.outbox_ack($1::bigint, $2)", 2, NULL, args, NULL, NULL, 0);
	else
		res = PQexecParams(conn, "SELECT crm.outbox_nack($1::bigint, $2, $3)", 3, NULL, args, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "crm_relay: settling message %s: %s", m->id, PQerrorMessage(conn));
	else if (error != NULL && strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		fprintf(stderr, "crm_relay: message %s failed (%s), and its lease was lost: "
				"another relay has claimed it\n", m->id, error);
	else if (error != NULL)
		fprintf(stderr, "crm_relay: message %s given back: %s\n", m->id, error);
	else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		fprintf(stderr, "crm_relay: message %s delivered, but its lease was lost: "
				"another relay may deliver it again\n", m->id);
	PQclear(res);
	return ok;
}

/*
 * The message was delivered (or failed) already; a lost ack would only mean
 * a duplicate once the lease expires, so try once more on a new connection.
 */
static bool
settle_or_retry(PGconn *conn, const Options *o, const Message *m, const char *error)
{
	if (settle(conn, o, m, error))
		return true;
	if (PQstatus(conn) == CONNECTION_OK)
		return false;
	PQreset(conn);
	return PQstatus(conn) == CONNECTION_OK && PQsetClientEncoding(conn, "UTF8") == 0 &&
		listen_outbox(conn) && settle(conn, o, m, error);
}

/* Oldest first: RETURNING gives no order of its own. */
static PGresult *
claim(PGconn *conn, const Options *o)
{
	char		batch[16];
	char		lease[16];
	const char *args[3] = {o->consumer, batch, lease};
	PGresult   *res;

	snprintf(batch, sizeof(batch), "%d", o->batch);
	snprintf(lease, sizeof(lease), "%d", o->lease);
	res = PQexecParams(conn,
					   "SELECT id, topic, recipient, payload::text, attempts"
					   "  FROM crm.outbox_claim($1, $2::integer,"
					   "                        pg_catalog.make_interval(secs => $3::integer))"
					   " ORDER BY id",
					   3, NULL, args, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	fprintf(stderr, "crm_relay: claiming messages: %s", PQerrorMessage(conn));
	PQclear(res);
	return NULL;
}

static Message
message_at(const PGresult *res, int row)
{
	return (Message) {
		.id = PQgetvalue(res, row, 0),
		.topic = PQgetvalue(res, row, 1),
		.recipient = PQgetisnull(res, row, 2) ? NULL : PQgetvalue(res, row, 2),
		.payload = PQgetvalue(res, row, 3),
		.attempt = PQgetvalue(res, row, 4),
	};
}

/*
 * When our lease ends, by our own clock.  Taken before the claim, so no
 * later than the server's; less a margin (a tenth, at most 5 s) for the
 * ack's round trip.  Past it another relay may take the messages over, so
 * we deliver none: that keeps duplicates to relays that died.
 */
static long long
lease_deadline(const Options *o)
{
	long long	ms = o->lease * 1000LL;
	long long	margin = ms / 10 < 5000 ? ms / 10 : 5000;

	return now_ms() + ms - margin;
}

/* One claim and its deliveries: how many were claimed, or -1 on an SQL error. */
static int
relay_batch(PGconn *conn, const Options *o)
{
	long long	deadline = lease_deadline(o);
	PGresult   *res = claim(conn, o);
	int			n = res ? PQntuples(res) : -1;

	for (int i = 0; i < n && !stop_requested(); i++)
	{
		Message		m = message_at(res, i);
		char		error[512];
		bool		ok;

		if (now_ms() >= deadline)
		{
			fprintf(stderr, "crm_relay: the lease ran out with %d of %d messages undelivered; "
					"they will be claimed again (use a longer --lease or a smaller --batch)\n", n - i, n);
			break;
		}
		ok = o->command ? run_command(o->command, &m, deadline, error, sizeof(error))
			: print_message(&m, error, sizeof(error));
		if (!settle_or_retry(conn, o, &m, ok ? NULL : error))
		{
			n = -1;
			break;
		}
	}
	PQclear(res);
	return n;
}

static void
disconnect(PGconn **conn)
{
	if (*conn != NULL && PQstatus(*conn) != CONNECTION_OK)
		fprintf(stderr, "crm_relay: lost the connection: %s", PQerrorMessage(*conn));
	PQfinish(*conn);
	*conn = NULL;
}

/* Claims until nothing is left, then waits; reconnects after any error. */
static void
relay(const Options *o)
{
	PGconn	   *conn = NULL;
	int			delay = 0;

	while (!stop_requested())
	{
		int			n = -1;

		if (conn == NULL)
			conn = connect_db(o);
		if (conn != NULL && (n = relay_batch(conn, o)) >= 0)
			delay = 0;
		if (o->once && n <= 0)
		{
			exit_status = n < 0 ? 1 : exit_status;
			break;
		}
		if (n > 0 || (n == 0 && wait_for_notification(conn, o->wait)))
			continue;
		disconnect(&conn);
		back_off(&delay);
	}
	PQfinish(conn);
}

int
main(int argc, char **argv)
{
	Options		o;

	parse_options(argc, argv, &o);
	setup_signals();
	relay(&o);
	return exit_status;
}
