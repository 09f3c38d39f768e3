/*
 * kiln-runtime: a small OCI runtime for the subset of the runtime-spec kiln uses.
 *
 *   kiln-runtime [--log FILE] [--log-format text|json] [--root DIR] run [--bundle DIR] [--pid-file F] [--init] [--die-with PID] ID
 *   kiln-runtime [--log FILE] [--log-format text|json] exec --pid PID --process process.json [--pid-file F]
 *   kiln-runtime mount [-t TYPE] [-o OPTS] SOURCE TARGET / umount [-R] [-l] TARGET   (kiln's snapshot mounts)
 *   kiln-runtime mount-server   (the same two, for one long-lived caller: requests on stdin)
 *
 * `run` stays in the foreground like `runc run`: it is the container's monitor, forwards signals,
 * relays the terminal when process.terminal is true, and exits with the container's status
 * (a signal N becomes 128+N). `exec` joins a running container's namespaces and cgroup.
 *
 * Order of work (the security-relevant steps are marked *):
 *   parent: re-exec from a sealed memfd*, parse config, create cgroup + limits, clone into new namespaces,
 *           put the child in the cgroup, write id maps, release the child, wait.
 *   child:  private propagation*, bind rootfs, mounts in order with targets resolved inside the rootfs*,
 *           default devices, pivot_root + detach old root*, mask / read-only paths*, hostname,
 *           rlimits, no_new_privs, user, capabilities (inheritable/ambient as configured)*,
 *           close fds > 2*, chdir + cwd check*, exec.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

/* ---------- logging and errors ---------- */

static int log_fd = -1, log_json = 0;
static int err_fd = -1;      /* in a child: pipe to the parent, reports a setup error */

static void log_line(const char *level, const char *msg) {
  char line[4200];
  if (log_fd < 0) { dprintf(2, "kiln-runtime: %s\n", msg); return; }
  if (!log_json) { dprintf(log_fd, "%s: %s\n", level, msg); return; }
  char *o = line;
  o += sprintf(o, "{\"level\":\"%s\",\"msg\":\"", level);
  for (const char *c = msg; *c && o < line + sizeof line - 64; c++) {
    if (*c == '"' || *c == '\\') { *o++ = '\\'; *o++ = *c; }
    else if ((unsigned char)*c < 0x20) o += sprintf(o, "\\u%04x", *c);
    else *o++ = *c;
  }
  time_t t = time(NULL);
  o += strftime(o, 48, "\",\"time\":\"%Y-%m-%dT%H:%M:%SZ\"}\n", gmtime(&t));
  if (write(log_fd, line, o - line) < 0) {}
}

__attribute__((format(printf, 2, 3))) static void logf_(const char *level, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_line(level, msg);
}

/* Fatal error. In a container child the message goes up the error pipe as "<exit code>:<text>". */
__attribute__((noreturn, format(printf, 2, 3))) static void die_code(int code, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (err_fd >= 0) {
    if (dprintf(err_fd, "%d:%s", code, msg) < 0) {}
    _exit(code);
  }
  log_line("error", msg);
  exit(code);
}
#define die(...) die_code(1, __VA_ARGS__)

/* ---------- small helpers ---------- */

static char *read_file(const char *path, size_t max, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  char *buf = malloc(max + 1);
  size_t n = 0;
  ssize_t r;
  while (buf && n < max && (r = read(fd, buf + n, max - n)) > 0) n += r;
  close(fd);
  if (!buf) return NULL;
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

static int write_file(const char *path, const char *val) {
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  ssize_t r = write(fd, val, strlen(val));
  int e = errno;
  close(fd);
  errno = e;
  return r < 0 ? -1 : 0;
}

static int mkdir_p(const char *path, mode_t mode) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') { *p = 0; if (mkdir(buf, mode) && errno != EEXIST) return -1; *p = '/'; }
  return mkdir(buf, mode) && errno != EEXIST ? -1 : 0;
}

/* Lexically clean an absolute path (runc's filepath.Clean): drops ".", "//", and ".." above "/". */
static void clean_path(const char *in, char *out, size_t outlen) {
  char tmp[PATH_MAX];
  size_t o = 0;
  snprintf(tmp, sizeof tmp, "%s", in);
  out[0] = 0;
  for (char *save, *c = strtok_r(tmp, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
    if (!strcmp(c, ".")) continue;
    if (!strcmp(c, "..")) { while (o > 0 && out[--o] != '/') {} out[o] = 0; continue; }
    o += snprintf(out + o, outlen - o, "/%s", c);
  }
  if (!o) snprintf(out, outlen, "/");
}

/* openat2 with the path resolved as if `dirfd` were "/": symlinks and ".." can never leave it. */
static int open_in_root(int rootfd, const char *path, int flags, uint64_t extra_resolve) {
  struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC),
                          .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra_resolve };
  while (*path == '/') path++;
  if (!*path) path = ".";
  return syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/* Open (creating if missing: a directory, or a file when `file`) `path` inside the root, as O_PATH.
   A dangling symlink on the way is followed inside the root: its target is created there (runc's MkdirAll). */
static int mkopen_depth(int rootfd, const char *path, int file, int depth);
static int mkopen_in_root(int rootfd, const char *path, int file) { return mkopen_depth(rootfd, path, file, 0); }
static int mkopen_depth(int rootfd, const char *path, int file, int depth) {
  char clean[PATH_MAX];
  if (depth > 40) { errno = ELOOP; return -1; }
  clean_path(path, clean, sizeof clean);
  int fd = open_in_root(rootfd, clean, O_PATH, 0);
  if (fd >= 0 || errno != ENOENT) return fd;
  /* create component by component; each create is one name in an in-root-resolved parent */
  char *p = clean;
  while (*p) {
    char *slash = strchr(p + 1, '/');
    if (slash) *slash = 0;
    int cur = open_in_root(rootfd, clean, O_PATH, 0);
    if (cur < 0 && errno == ENOENT) {
      char *name = strrchr(clean, '/');
      *name = 0;
      int parent = open_in_root(rootfd, clean[0] ? clean : "/", O_PATH | O_DIRECTORY, 0);
      *name = '/';
      if (parent < 0) return -1;
      int r;
      if (!slash && file) {
        r = openat(parent, name + 1, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (r >= 0) close(r);
      } else r = mkdirat(parent, name + 1, 0755);
      if (r < 0 && errno == EEXIST) {
        char link[PATH_MAX], next[PATH_MAX * 2 + 2];
        ssize_t n = readlinkat(parent, name + 1, link, sizeof link - 1);
        if (n > 0) { /* a dangling symlink: continue at its target, resolved from the root */
          link[n] = 0;
          *name = 0;
          snprintf(next, sizeof next, "%s/%s%s%s", link[0] == '/' ? "" : clean, link, slash ? "/" : "", slash ? slash + 1 : "");
          close(parent);
          return mkopen_depth(rootfd, next, file, depth + 1);
        }
      }
      close(parent);
      if (r < 0 && errno != EEXIST) return -1;
      cur = open_in_root(rootfd, clean, O_PATH, 0);
    }
    if (cur < 0) return -1;
    if (!slash) return cur;
    close(cur);
    *slash = '/';
    p = slash;
  }
  return -1;
}

static char *procfd(int fd) {
  static char buf[4][32];
  static int i;
  i = (i + 1) % 4;
  snprintf(buf[i], sizeof buf[i], "/proc/self/fd/%d", fd);
  return buf[i];
}

/* ---------- capabilities, rlimits ---------- */

static const char *cap_names[] = {
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
  "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
  "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
  "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
  "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
  "CHECKPOINT_RESTORE",
};
#define NCAPS (int)(sizeof cap_names / sizeof *cap_names)

static uint64_t cap_set(const jval *caps, const char *which) {
  jval *list = jget(caps, which);
  uint64_t set = 0;
  for (size_t i = 0; list && i < list->n; i++) {
    const char *n = list->items[i]->str;
    int found = 0;
    if (n && !strncmp(n, "CAP_", 4)) n += 4;
    for (int c = 0; n && c < NCAPS; c++) if (!strcmp(n, cap_names[c])) { set |= 1ULL << c; found = 1; }
    if (!found) die("unknown capability %s in process.capabilities.%s", n ? n : "(non-string)", which);
  }
  return set;
}

static const struct { const char *name; int res; } rlimit_names[] = {
  {"RLIMIT_AS", RLIMIT_AS}, {"RLIMIT_CORE", RLIMIT_CORE}, {"RLIMIT_CPU", RLIMIT_CPU}, {"RLIMIT_DATA", RLIMIT_DATA},
  {"RLIMIT_FSIZE", RLIMIT_FSIZE}, {"RLIMIT_LOCKS", RLIMIT_LOCKS}, {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
  {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE}, {"RLIMIT_NOFILE", RLIMIT_NOFILE},
  {"RLIMIT_NPROC", RLIMIT_NPROC}, {"RLIMIT_RSS", RLIMIT_RSS}, {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
  {"RLIMIT_RTTIME", RLIMIT_RTTIME}, {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK},
};

/* ---------- the process (shared by run and exec) ---------- */

struct proc {
  char **args, **env;
  const char *cwd;
  uid_t uid; gid_t gid; gid_t groups[64]; int ngroups;
  int terminal, nnp, umask_set; mode_t umask;
  uint64_t bnd, eff, prm, inh, amb;
  jval *rlimits;
};

static char **str_array(const jval *a, const char *what) {
  size_t n = a && a->type == J_ARR ? a->n : 0;
  char **out = calloc(n + 1, sizeof *out);
  for (size_t i = 0; i < n; i++) {
    if (a->items[i]->type != J_STR) die("%s must hold strings", what);
    out[i] = a->items[i]->str;
  }
  return out;
}

static void parse_process(const jval *p, struct proc *pr) {
  if (!p || p->type != J_OBJ) die("config has no process object");
  memset(pr, 0, sizeof *pr);
  pr->args = str_array(jget(p, "args"), "process.args");
  if (!pr->args[0]) die("process.args is empty");
  pr->env = str_array(jget(p, "env"), "process.env");
  pr->cwd = jstr(p, "cwd", "/");
  if (pr->cwd[0] != '/') die("process.cwd must be absolute, got %s", pr->cwd);
  jval *u = jget(p, "user");
  long long uid = jint(u, "uid", 0), gid = jint(u, "gid", 0);
  if (uid < 0 || uid > 0xFFFFFFFELL || gid < 0 || gid > 0xFFFFFFFELL) die("process.user uid/gid out of range");
  pr->uid = uid; pr->gid = gid;
  jval *ag = jget(u, "additionalGids");
  for (size_t i = 0; ag && i < ag->n && i < 64; i++) {
    if (ag->items[i]->type != J_NUM || ag->items[i]->inum < 0 || ag->items[i]->inum > 0xFFFFFFFELL) die("bad additionalGids");
    pr->groups[pr->ngroups++] = ag->items[i]->inum;
  }
  if (jget(u, "umask")) { pr->umask_set = 1; pr->umask = jint(u, "umask", 022); }
  pr->terminal = jbool(p, "terminal", 0);
  pr->nnp = jbool(p, "noNewPrivileges", 0);
  jval *caps = jget(p, "capabilities");
  pr->bnd = cap_set(caps, "bounding"); pr->eff = cap_set(caps, "effective"); pr->prm = cap_set(caps, "permitted");
  pr->inh = cap_set(caps, "inheritable"); pr->amb = cap_set(caps, "ambient");
  pr->rlimits = jget(p, "rlimits");
}

static int last_cap(void) {
  char *s = read_file("/proc/sys/kernel/cap_last_cap", 16, NULL);
  int n = s ? atoi(s) : NCAPS - 1;
  free(s);
  return n;
}

/* Send the pty master to the parent and keep the slave for the process. Called inside the container. */
static int setup_pty(int sock) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) die("open /dev/ptmx: %m");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock)) die("unlock pty: %m");
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) die("open pty slave: %m");
  char cbuf[CMSG_SPACE(sizeof(int))] = {0}, b = 'm';
  struct iovec iov = { &b, 1 };
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_RIGHTS; cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &master, sizeof(int));
  if (sendmsg(sock, &mh, 0) < 0) die("send pty master: %m");
  close(master);
  return slave;
}

/* The last steps before exec, in the container: tty, rlimits, nnp, user, caps, fds, cwd, exec. Never returns. */
__attribute__((noreturn)) static void finish_and_exec(struct proc *pr, int tty_slave) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  if (tty_slave >= 0) {
    if (setsid() < 0) die("setsid: %m");
    if (ioctl(tty_slave, TIOCSCTTY, 0)) die("set controlling terminal: %m");
    for (int i = 0; i < 3; i++) if (dup2(tty_slave, i) < 0) die("dup2 tty: %m");
    if (tty_slave > 2) close(tty_slave);
  }
  for (size_t i = 0; pr->rlimits && i < pr->rlimits->n; i++) {
    jval *r = pr->rlimits->items[i];
    const char *t = jstr(r, "type", "");
    size_t k;
    for (k = 0; k < sizeof rlimit_names / sizeof *rlimit_names; k++) if (!strcmp(t, rlimit_names[k].name)) break;
    if (k == sizeof rlimit_names / sizeof *rlimit_names) die("unknown rlimit %s", t);
    jval *h = jget(r, "hard"), *s = jget(r, "soft");
    /* values are uint64 in the spec; 2^64-1 (RLIM_INFINITY) does not fit a double exactly */
    struct rlimit rl = { !s ? 0 : s->num >= 1.8e19 ? RLIM_INFINITY : (rlim_t)s->num, !h ? 0 : h->num >= 1.8e19 ? RLIM_INFINITY : (rlim_t)h->num };
    if (!s || !h || s->num < 0 || h->num < 0) die("rlimit %s needs non-negative soft and hard values", t);
    if (setrlimit(rlimit_names[k].res, &rl)) die("setrlimit %s: %m", t);
  }
  if (pr->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) die("no_new_privs: %m");
  umask(pr->umask_set ? pr->umask : 022);
  /* capabilities: shrink the bounding set, keep caps across the uid change, then set exactly */
  int last = last_cap();
  for (int c = 0; c <= last; c++)
    if (c >= 64 || !(pr->bnd & (1ULL << c))) if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL) die("drop cap %d: %m", c);
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)) die("keepcaps: %m");
  if (setgroups(pr->ngroups, pr->groups)) die("setgroups: %m");
  if (setresgid(pr->gid, pr->gid, pr->gid)) die("setgid %u: %m", pr->gid);
  if (setresuid(pr->uid, pr->uid, pr->uid)) die("setuid %u: %m", pr->uid);
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2] = {
    { (uint32_t)pr->eff, (uint32_t)pr->prm, (uint32_t)pr->inh },
    { (uint32_t)(pr->eff >> 32), (uint32_t)(pr->prm >> 32), (uint32_t)(pr->inh >> 32) },
  };
  if (syscall(SYS_capset, &hdr, data)) die("capset: %m");
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int c = 0; c < 64 && c <= last; c++)
    if ((pr->amb & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) && errno != EPERM)
      die("ambient cap %d: %m", c); /* EPERM: not in permitted+inheritable, which runc also tolerates */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* cleared by the uid change above */
  /* CVE-2024-21626: no host fd may survive to be used as a cwd; only the cloexec error pipe stays */
  if (err_fd > 3) syscall(SYS_close_range, 3, err_fd - 1, 0);
  syscall(SYS_close_range, (err_fd >= 3 ? err_fd : 2) + 1, ~0U, 0);
  if (chdir(pr->cwd)) {
    if (errno != ENOENT) die("chdir to cwd (\"%s\"): %m", pr->cwd);
    int rfd = open("/", O_PATH | O_CLOEXEC), dfd = mkopen_in_root(rfd, pr->cwd, 0);
    close(rfd);
    if (dfd >= 0) close(dfd);
    if (dfd < 0 || chdir(pr->cwd)) die("chdir to cwd (\"%s\"): %m", pr->cwd);
  }
  char here[PATH_MAX];
  if (!getcwd(here, sizeof here) || here[0] != '/')
    die("cwd %s is outside the container root: possible container breakout detected", pr->cwd);
  clearenv();
  for (char **e = pr->env; *e; e++) putenv(*e);
  execvp(pr->args[0], pr->args);
  if (errno == ENOENT) die_code(127, "exec: \"%s\": executable file not found in $PATH", pr->args[0]);
  die_code(126, "exec: \"%s\": %m", pr->args[0]);
}

/* ---------- cgroups (v1 per controller, or v2 unified) ---------- */

static const char *v1_ctrls[] = {"memory", "pids", "cpu", "cpuacct", "devices", "freezer", "blkio"};
#define NV1 (int)(sizeof v1_ctrls / sizeof *v1_ctrls)
struct cg { int v2, n; char path[NV1][PATH_MAX]; int created[NV1]; };

static int cg_is_v2(void) {
  struct statfs s;
  return statfs("/sys/fs/cgroup", &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC;
}

/* Mount point and mount root of the hierarchy holding `ctrl` (v1), or of cgroup2 when ctrl is NULL. */
static int cg_mount(const char *ctrl, char *mnt, char *root) {
  char *mi = read_file("/proc/self/mountinfo", 1 << 20, NULL), *save = NULL;
  int ok = 0;
  for (char *l = mi ? strtok_r(mi, "\n", &save) : NULL; l && ok != 1; l = strtok_r(NULL, "\n", &save)) {
    char r[PATH_MAX], m[PATH_MAX], fstype[64], opts[512];
    char *sep = strstr(l, " - ");
    if (!sep || sscanf(l, "%*s %*s %*s %4095s %4095s", r, m) != 2 || sscanf(sep + 3, "%63s %*s %511s", fstype, opts) != 2) continue;
    if (ctrl ? strcmp(fstype, "cgroup") : strcmp(fstype, "cgroup2")) continue;
    if (ctrl) {
      int hit = 0;
      for (char *s2, *o = strtok_r(opts, ",", &s2); o; o = strtok_r(NULL, ",", &s2)) if (!strcmp(o, ctrl)) hit = 1;
      if (!hit) continue;
    }
    if (!ctrl && ok && strcmp(m, "/sys/fs/cgroup")) continue; /* prefer the unified mount at /sys/fs/cgroup */
    strcpy(mnt, m); strcpy(root, r); ok = 1;
    if (!ctrl && strcmp(m, "/sys/fs/cgroup")) ok = 2;
  }
  free(mi);
  return ok ? 0 : -1;
}

/* The cgroup of `pid` for `ctrl` (NULL: the v2 line), as a path under its hierarchy. */
static int cg_of(pid_t pid, const char *ctrl, char *out) {
  char f[64];
  snprintf(f, sizeof f, "/proc/%d/cgroup", pid);
  char *s = read_file(f, 65536, NULL), *save = NULL;
  int ok = 0;
  for (char *l = s ? strtok_r(s, "\n", &save) : NULL; l && !ok; l = strtok_r(NULL, "\n", &save)) {
    char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c2 = 0;
    if (!ctrl) { if (c1[1] == 0) { strcpy(out, c2 + 1); ok = 1; } continue; }
    for (char *s2, *o = strtok_r(c1 + 1, ",", &s2); o; o = strtok_r(NULL, ",", &s2)) if (!strcmp(o, ctrl)) { strcpy(out, c2 + 1); ok = 1; }
  }
  free(s);
  return ok ? 0 : -1;
}

/* Host directory for cgroupsPath under one hierarchy: relative paths nest under our own cgroup (as runc). */
static int cg_dir(const char *ctrl, const char *cgpath, pid_t self, char *out) {
  char mnt[PATH_MAX], root[PATH_MAX], own[PATH_MAX] = "/";
  if (cg_mount(ctrl, mnt, root)) return -1;
  if (cgpath[0] != '/' && cg_of(self, ctrl, own)) return -1;
  const char *rel = own;
  if (strcmp(root, "/") && !strncmp(own, root, strlen(root))) rel = own + strlen(root);
  char joined[PATH_MAX];
  snprintf(joined, sizeof joined, "%s/%s/%s", mnt, cgpath[0] == '/' ? "" : rel, cgpath);
  clean_path(joined, out, PATH_MAX);
  return 0;
}

static void cg_set(const char *dir, const char *file, const char *val) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  if (write_file(p, val)) die("cgroup: write %s to %s: %m", val, p);
}

static void cg_create(struct cg *cg, const char *cgpath, const jval *res) {
  memset(cg, 0, sizeof *cg);
  cg->v2 = cg_is_v2();
  char v[64];
  jval *mem = jget(res, "memory"), *pids = jget(res, "pids"), *cpu = jget(res, "cpu");
  long long limit = jint(mem, "limit", 0), swap = jint(mem, "swap", 0), pmax = jint(pids, "limit", 0);
  long long quota = jint(cpu, "quota", 0), period = jint(cpu, "period", 0), shares = jint(cpu, "shares", 0);
  if (cg->v2) {
    if (cg_dir(NULL, cgpath, getpid(), cg->path[0])) die("cgroup2 is not mounted");
    cg->n = 1;
    /* enable controllers down the path (best effort: the host may delegate fewer) */
    char *p = cg->path[0] + strlen("/sys/fs/cgroup");
    for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
      char parent[PATH_MAX];
      snprintf(parent, sizeof parent, "%.*s/cgroup.subtree_control", (int)(s - cg->path[0]), cg->path[0]);
      mkdir(parent, 0755);
      write_file(parent, "+memory +pids +cpu");
    }
    struct stat st;
    int existed = stat(cg->path[0], &st) == 0;
    if (mkdir_p(cg->path[0], 0755)) die("cgroup: mkdir %s: %m", cg->path[0]);
    cg->created[0] = !existed;
    const char *d = cg->path[0];
    if (limit > 0) { snprintf(v, sizeof v, "%lld", limit); cg_set(d, "memory.max", v); }
    if (swap > 0 && limit > 0) { snprintf(v, sizeof v, "%lld", swap - limit); cg_set(d, "memory.swap.max", v); }
    if (pmax > 0) { snprintf(v, sizeof v, "%lld", pmax); cg_set(d, "pids.max", v); }
    if (quota > 0) { snprintf(v, sizeof v, "%lld %lld", quota, period > 0 ? period : 100000); cg_set(d, "cpu.max", v); }
    if (shares > 0) { snprintf(v, sizeof v, "%lld", 1 + ((shares - 2) * 9999) / 262142); cg_set(d, "cpu.weight", v); }
    return;
  }
  for (int i = 0; i < NV1; i++) {
    if (cg_dir(v1_ctrls[i], cgpath, getpid(), cg->path[cg->n])) continue;
    struct stat st;
    int existed = stat(cg->path[cg->n], &st) == 0;
    if (mkdir_p(cg->path[cg->n], 0755)) die("cgroup: mkdir %s: %m", cg->path[cg->n]);
    cg->created[cg->n] = !existed;
    const char *d = cg->path[cg->n++];
    if (!strcmp(v1_ctrls[i], "memory") && limit > 0) {
      snprintf(v, sizeof v, "%lld", limit); cg_set(d, "memory.limit_in_bytes", v);
      if (swap > 0) { char p[PATH_MAX]; snprintf(p, sizeof p, "%s/memory.memsw.limit_in_bytes", d); snprintf(v, sizeof v, "%lld", swap); write_file(p, v); }
    }
    if (!strcmp(v1_ctrls[i], "pids") && pmax > 0) { snprintf(v, sizeof v, "%lld", pmax); cg_set(d, "pids.max", v); }
    if (!strcmp(v1_ctrls[i], "cpu")) {
      if (period > 0) { snprintf(v, sizeof v, "%lld", period); cg_set(d, "cpu.cfs_period_us", v); }
      if (quota > 0) { snprintf(v, sizeof v, "%lld", quota); cg_set(d, "cpu.cfs_quota_us", v); }
      if (shares > 0) { snprintf(v, sizeof v, "%lld", shares); cg_set(d, "cpu.shares", v); }
    }
    if (!strcmp(v1_ctrls[i], "devices")) {
      jval *devs = jget(res, "devices");
      for (size_t k = 0; devs && k < devs->n; k++) {
        jval *r = devs->items[k];
        char maj[24] = "*", min[24] = "*";
        if (jget(r, "major") && jint(r, "major", -1) >= 0) snprintf(maj, sizeof maj, "%lld", jint(r, "major", 0));
        if (jget(r, "minor") && jint(r, "minor", -1) >= 0) snprintf(min, sizeof min, "%lld", jint(r, "minor", 0));
        const char *type = jstr(r, "type", "a");
        char rule[96];
        if (!strcmp(type, "a")) snprintf(rule, sizeof rule, "a");
        else snprintf(rule, sizeof rule, "%s %s:%s %s", type, maj, min, jstr(r, "access", "rwm"));
        cg_set(d, jbool(r, "allow", 0) ? "devices.allow" : "devices.deny", rule);
      }
      /* the default devices stay usable whatever the rules say (runc's AllowedDevices) */
      static const char *always[] = {"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                                     "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm"};
      for (size_t k = 0; devs && k < sizeof always / sizeof *always; k++) cg_set(d, "devices.allow", always[k]);
    }
  }
}

static void cg_join(const struct cg *cg, pid_t pid) {
  char v[32];
  snprintf(v, sizeof v, "%d", pid);
  for (int i = 0; i < cg->n; i++) cg_set(cg->path[i], "cgroup.procs", v);
}

/*
 * cgroup v1, from the single-threaded child itself: "0" written to `tasks` moves the calling
 * thread, which for a one-thread process is the whole process. Unlike a write to cgroup.procs,
 * that takes no write lock on the kernel's threadgroup rwsem, so it does not wait for an RCU
 * grace period (7 ms on a quiet machine, 11-23 ms measured when RUNs start together; 0.02 ms this
 * way), nor hold the cgroup mutex meanwhile.
 */
static void cg_join_self(const struct cg *cg) {
  for (int i = 0; i < cg->n; i++) cg_set(cg->path[i], "tasks", "0");
}

static long long cg_oom_kills(const struct cg *cg) {
  for (int i = 0; i < cg->n; i++) {
    if (!cg->v2 && !strstr(cg->path[i], "/memory")) continue;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", cg->path[i], cg->v2 ? "memory.events" : "memory.oom_control");
    char *s = read_file(p, 4096, NULL), *k = s ? strstr(s, "oom_kill ") : NULL;
    long long n = k ? atoll(k + 9) : 0;
    free(s);
    return n;
  }
  return 0;
}

static void cg_remove(const struct cg *cg) {
  for (int i = 0; i < cg->n; i++) {
    if (!cg->created[i]) continue;
    for (int t = 0; t < 200 && rmdir(cg->path[i]) && errno == EBUSY; t++) usleep(1000);
  }
}

/* ---------- mounts ---------- */

static const struct { const char *name; int clear; unsigned long flag; } mount_flags[] = {
  {"ro", 0, MS_RDONLY}, {"rw", 1, MS_RDONLY}, {"nosuid", 0, MS_NOSUID}, {"suid", 1, MS_NOSUID},
  {"nodev", 0, MS_NODEV}, {"dev", 1, MS_NODEV}, {"noexec", 0, MS_NOEXEC}, {"exec", 1, MS_NOEXEC},
  {"sync", 0, MS_SYNCHRONOUS}, {"async", 1, MS_SYNCHRONOUS}, {"noatime", 0, MS_NOATIME}, {"atime", 1, MS_NOATIME},
  {"relatime", 0, MS_RELATIME}, {"norelatime", 1, MS_RELATIME}, {"strictatime", 0, MS_STRICTATIME},
  {"nodiratime", 0, MS_NODIRATIME}, {"diratime", 1, MS_NODIRATIME}, {"bind", 0, MS_BIND}, {"rbind", 0, MS_BIND | MS_REC},
  {"private", 0, MS_PRIVATE}, {"rprivate", 0, MS_PRIVATE | MS_REC}, {"slave", 0, MS_SLAVE}, {"rslave", 0, MS_SLAVE | MS_REC},
  {"shared", 0, MS_SHARED}, {"rshared", 0, MS_SHARED | MS_REC}, {"unbindable", 0, MS_UNBINDABLE},
  {"runbindable", 0, MS_UNBINDABLE | MS_REC},
};
#define PROPAGATION (MS_PRIVATE | MS_SLAVE | MS_SHARED | MS_UNBINDABLE)

static void parse_options(const jval *opts, unsigned long *flags, unsigned long *prop, char *data, size_t dlen) {
  *flags = 0; *prop = 0; data[0] = 0;
  for (size_t i = 0; opts && i < opts->n; i++) {
    const char *o = opts->items[i]->str;
    size_t k, nf = sizeof mount_flags / sizeof *mount_flags;
    if (!o) die("mount options must be strings");
    for (k = 0; k < nf; k++) if (!strcmp(o, mount_flags[k].name)) break;
    if (k == nf) {
      if (strlen(data) + strlen(o) + 2 >= dlen) die("mount options too long");
      if (data[0]) strcat(data, ",");
      strcat(data, o);
    } else if (mount_flags[k].flag & PROPAGATION) *prop |= mount_flags[k].flag;
    else if (mount_flags[k].clear) *flags &= ~mount_flags[k].flag;
    else *flags |= mount_flags[k].flag;
  }
}

static uint64_t attr_of(unsigned long f) {
  return (f & MS_RDONLY ? MOUNT_ATTR_RDONLY : 0) | (f & MS_NOSUID ? MOUNT_ATTR_NOSUID : 0) |
         (f & MS_NODEV ? MOUNT_ATTR_NODEV : 0) | (f & MS_NOEXEC ? MOUNT_ATTR_NOEXEC : 0) |
         (f & MS_NOATIME ? MOUNT_ATTR_NOATIME : 0) | (f & MS_STRICTATIME ? MOUNT_ATTR_STRICTATIME : 0) |
         (f & MS_NODIRATIME ? MOUNT_ATTR_NODIRATIME : 0);
}

/* Bind `src` (a path, resolved by the caller's view, or an fd with src==NULL) onto the O_PATH fd `target`. */
static void bind_onto(int srcdir, const char *src, int target, unsigned long flags, unsigned long prop) {
  int rec = (flags & MS_REC) ? AT_RECURSIVE : 0;
  int tree = open_tree(srcdir, src ? src : "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec | (src ? 0 : AT_EMPTY_PATH));
  if (tree < 0) die("bind %s: %m", src ? src : "(fd)");
  struct mount_attr attr = { .attr_set = attr_of(flags), .propagation = prop & ~MS_REC };
  if ((attr.attr_set || attr.propagation) && mount_setattr(tree, "", AT_EMPTY_PATH | rec, &attr, sizeof attr))
    die("set bind mount attributes on %s: %m", src ? src : "(fd)");
  if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)) die("move bind mount %s: %m", src ? src : "(fd)");
  close(tree);
}

static void do_mount(int rootfd, const jval *m) {
  const char *dst = jstr(m, "destination", NULL), *type = jstr(m, "type", ""), *src = jstr(m, "source", "none");
  if (!dst || dst[0] != '/') die("mount destination must be absolute: %s", dst ? dst : "(missing)");
  unsigned long flags, prop;
  char data[2048];
  parse_options(jget(m, "options"), &flags, &prop, data, sizeof data);
  int bind = (flags & MS_BIND) || !strcmp(type, "bind");
  /* cgroupfs: cgroup2 on unified hosts; on v1 hosts an empty tmpfs (the container sees no hierarchy) */
  if (!strcmp(type, "cgroup")) { if (cg_is_v2()) type = "cgroup2"; else { type = "tmpfs"; src = "cgroup"; snprintf(data, sizeof data, "mode=755"); } }
  struct stat st;
  int srcfile = bind && stat(src, &st) == 0 && !S_ISDIR(st.st_mode);
  /* proc and sysfs must land on a real directory, never on a symlink (runc CVE-2019-16884) */
  int special = !strcmp(type, "proc") || !strcmp(type, "sysfs");
  int fd = special ? open_in_root(rootfd, dst, O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS) : -1;
  if (special && fd < 0 && errno != ENOENT) die("%s must be mounted on ordinary directory (%s): %m", dst, type);
  if (fd < 0) fd = mkopen_in_root(rootfd, dst, srcfile);
  if (fd < 0) die("mount target %s: %m", dst);
  if (bind) bind_onto(AT_FDCWD, src, fd, flags | MS_BIND, prop);
  else {
    if (mount(src, procfd(fd), type, flags & ~MS_REC, data[0] ? data : NULL)) die("mount %s on %s: %m", type, dst);
    if (prop) { int top = open_in_root(rootfd, dst, O_PATH, 0); if (top < 0 || mount(NULL, procfd(top), NULL, prop, NULL)) die("propagation of %s: %m", dst); close(top); }
  }
  close(fd);
}

static const struct { const char *name; int major, minor; } default_devs[] = {
  {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

static void make_device(int rootfd, const char *path, char type, int major, int minor, mode_t mode, uid_t uid, gid_t gid, int userns) {
  char dir[PATH_MAX], *name;
  clean_path(path, dir, sizeof dir);
  name = strrchr(dir, '/');
  *name++ = 0;
  int dfd = mkopen_in_root(rootfd, dir[0] ? dir : "/", 0);
  if (dfd < 0) die("device dir for %s: %m", path);
  int d2 = openat(dfd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC); /* O_PATH fds can't be used for mknodat */
  close(dfd);
  unlinkat(d2, name, 0);
  if (!userns) {
    if (mknodat(d2, name, (type == 'b' ? S_IFBLK : S_IFCHR) | (mode & 07777), makedev(major, minor))) die("mknod %s: %m", path);
    if (fchownat(d2, name, uid, gid, AT_SYMLINK_NOFOLLOW)) die("chown %s: %m", path);
  } else { /* no mknod in a user namespace: bind the host's node onto an empty file */
    char host[64];
    snprintf(host, sizeof host, "/dev/%s", name);
    int f = openat(d2, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (f < 0) die("create %s: %m", path);
    close(f);
    int t = openat(d2, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    bind_onto(AT_FDCWD, host, t, MS_BIND, 0);
    close(t);
  }
  close(d2);
}

static void setup_dev(int rootfd, const jval *linux_, int userns) {
  for (size_t i = 0; i < sizeof default_devs / sizeof *default_devs; i++) {
    char p[64];
    snprintf(p, sizeof p, "/dev/%s", default_devs[i].name);
    make_device(rootfd, p, 'c', default_devs[i].major, default_devs[i].minor, 0666, 0, 0, userns);
  }
  jval *devs = jget(linux_, "devices");
  for (size_t i = 0; devs && i < devs->n; i++) {
    jval *d = devs->items[i];
    const char *path = jstr(d, "path", NULL), *type = jstr(d, "type", "c");
    if (!path || path[0] != '/') die("linux.devices path must be absolute");
    make_device(rootfd, path, type[0], jint(d, "major", 0), jint(d, "minor", 0), jint(d, "fileMode", 0666),
                jint(d, "uid", 0), jint(d, "gid", 0), userns);
  }
  int dev = open_in_root(rootfd, "/dev", O_DIRECTORY | O_RDONLY, 0);
  if (dev < 0) die("open /dev: %m");
  static const char *links[][2] = {{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
                                   {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"}, {"core", "/proc/kcore"}};
  for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
    unlinkat(dev, links[i][0], 0);
    if (symlinkat(links[i][1], dev, links[i][0]) && errno != EEXIST) die("symlink /dev/%s: %m", links[i][0]);
  }
  close(dev);
}

/* After pivot_root: masked paths get /dev/null (files) or an empty read-only tmpfs (dirs). */
static void mask_paths(const jval *list) {
  int root = open("/", O_PATH | O_CLOEXEC), null = -1;
  for (size_t i = 0; list && i < list->n; i++) {
    const char *p = list->items[i]->str;
    int fd = p ? open_in_root(root, p, O_PATH | O_NOFOLLOW, 0) : -1;
    if (fd < 0) { if (errno == ENOENT || errno == ELOOP) continue; die("masked path %s: %m", p ? p : "?"); }
    struct stat st;
    fstat(fd, &st);
    if (S_ISDIR(st.st_mode)) {
      if (mount("tmpfs", procfd(fd), "tmpfs", MS_RDONLY, "size=0")) die("mask %s: %m", p);
    } else {
      if (null < 0) {
        /* CVE-2025-31133: the source must really be the null device, not a planted symlink or file */
        null = open("/dev/null", O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat ns;
        if (null < 0 || fstat(null, &ns) || !S_ISCHR(ns.st_mode) || ns.st_rdev != makedev(1, 3)) die("/dev/null is not the null device");
      }
      bind_onto(null, NULL, fd, MS_BIND | MS_RDONLY, 0); /* read-only: writes fail EROFS */
    }
    close(fd);
  }
  if (null >= 0) close(null);
  close(root);
}

static void readonly_paths(const jval *list) {
  int root = open("/", O_PATH | O_CLOEXEC);
  for (size_t i = 0; list && i < list->n; i++) {
    const char *p = list->items[i]->str;
    int fd = p ? open_in_root(root, p, O_PATH | O_NOFOLLOW, 0) : -1;
    if (fd < 0) { if (errno == ENOENT || errno == ELOOP) continue; die("readonly path %s: %m", p ? p : "?"); }
    bind_onto(fd, NULL, fd, MS_BIND | MS_REC | MS_RDONLY, 0);
    close(fd);
  }
  close(root);
}

/* ---------- the container child ---------- */

struct ctx {
  jval *cfg, *linux_;
  struct proc pr;
  char rootfs[PATH_MAX];
  int nsflags, init, sync_rd, con_sock;
  const struct cg *self_cg; /* v1 cgroups the child joins itself (see cg_join_self) */
};

static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = {0};
  strcpy(ifr.ifr_name, "lo");
  if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) { ifr.ifr_flags |= IFF_UP | IFF_RUNNING; ioctl(s, SIOCSIFFLAGS, &ifr); }
  if (s >= 0) close(s);
}

static const struct { const char *name; int flag; } ns_types[] = {
  {"mount", CLONE_NEWNS}, {"pid", CLONE_NEWPID}, {"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC},
  {"network", CLONE_NEWNET}, {"user", CLONE_NEWUSER}, {"cgroup", CLONE_NEWCGROUP},
};

/* Reap children as PID 1 and forward signals to the main process; exit with its status. */
__attribute__((noreturn)) static void init_loop(pid_t main_pid, sigset_t *set) {
  for (;;) {
    siginfo_t si;
    if (sigwaitinfo(set, &si) < 0) continue;
    if (si.si_signo != SIGCHLD) { kill(main_pid, si.si_signo); continue; }
    int st;
    pid_t w;
    while ((w = waitpid(-1, &st, WNOHANG)) > 0)
      if (w == main_pid) _exit(WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st));
  }
}

__attribute__((noreturn)) static void container_child(struct ctx *c, sigset_t *fwd) {
  char go;
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* Two releases from the parent: 'm' once a user namespace's id maps are written (the set-up
   * below needs them), 'g' once this process is in its cgroups, before anything of the container
   * runs or forks. Where the parent joins the cgroups (v2, a user namespace), the set-up runs
   * meanwhile: that join can wait for an RCU grace period. On v1 the child joins them itself. */
  if (read(c->sync_rd, &go, 1) != 1 || go != 'm') _exit(1); /* parent died or failed before releasing us */
  if (c->self_cg) cg_join_self(c->self_cg); /* before pivot_root hides the host's cgroup mounts */
  int userns = c->nsflags & CLONE_NEWUSER;
  if (userns && (setresgid(0, 0, 0) || setresuid(0, 0, 0))) die("become root in the user namespace: %m");
  /* join namespaces given by path */
  jval *nss = jget(c->linux_, "namespaces");
  for (size_t i = 0; nss && i < nss->n; i++) {
    const char *path = jstr(nss->items[i], "path", NULL);
    if (!path) continue;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, 0)) die("join namespace %s: %m", path);
    close(fd);
  }
  const char *host = jstr(c->cfg, "hostname", NULL);
  if (host && (c->nsflags & CLONE_NEWUTS) && sethostname(host, strlen(host))) die("sethostname: %m");
  if (c->nsflags & CLONE_NEWNET) loopback_up();
  /* mounts: nothing we do may propagate back to the host */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("make / private: %m");
  if (mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL)) die("bind rootfs %s: %m", c->rootfs);
  int rootfd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die("open rootfs: %m");
  jval *mounts = jget(c->cfg, "mounts");
  int dev_tmpfs = 0;
  for (size_t i = 0; mounts && i < mounts->n; i++) {
    do_mount(rootfd, mounts->items[i]);
    if (!strcmp(jstr(mounts->items[i], "destination", ""), "/dev")) dev_tmpfs = 1;
  }
  if (dev_tmpfs) setup_dev(rootfd, c->linux_, userns);
  /* pivot_root into the rootfs and detach the old root (runc's pivot_root(".", ".") trick) */
  if (fchdir(rootfd) || syscall(SYS_pivot_root, ".", ".")) die("pivot_root: %m");
  if (umount2(".", MNT_DETACH)) die("detach old root: %m");
  if (chdir("/")) die("chdir /: %m");
  close(rootfd);
  const char *prop = jstr(c->linux_, "rootfsPropagation", NULL);
  if (prop) {
    unsigned long f = 0, p2 = 0; char d[8];
    jval opt = { .type = J_STR, .str = (char *)prop }, *optp = &opt, arr = { .type = J_ARR, .items = &optp, .n = 1 };
    parse_options(&arr, &f, &p2, d, sizeof d);
    if (p2 && mount(NULL, "/", NULL, p2 | MS_REC, NULL)) die("rootfsPropagation: %m");
  }
  { /* create a missing cwd (as runc does) before the rootfs may become read-only; resolved in-root */
    int r = open("/", O_PATH | O_CLOEXEC), d = mkopen_in_root(r, c->pr.cwd, 0);
    if (d >= 0) close(d);
    close(r);
  }
  readonly_paths(jget(c->linux_, "readonlyPaths"));
  mask_paths(jget(c->linux_, "maskedPaths"));
  if (jbool(jget(c->cfg, "root"), "readonly", 0)) {
    struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
    if (mount_setattr(AT_FDCWD, "/", 0, &a, sizeof a)) die("read-only rootfs: %m");
  }
  int tty = c->pr.terminal ? setup_pty(c->con_sock) : -1;
  if (tty >= 0) { /* /dev/console is the pty, as runc does */
    int rfd = open("/", O_PATH | O_CLOEXEC), t = mkopen_in_root(rfd, "/dev/console", 1);
    if (t >= 0) bind_onto(tty, NULL, t, MS_BIND, 0);
    if (t >= 0) close(t);
    close(rfd);
  }
  if (c->con_sock >= 0) close(c->con_sock);
  if (read(c->sync_rd, &go, 1) != 1 || go != 'g') _exit(1); /* not in its cgroups: never run the process */
  close(c->sync_rd);
  if (c->init) {
    pid_t main_pid = fork();
    if (main_pid < 0) die("fork: %m");
    if (main_pid == 0) finish_and_exec(&c->pr, tty);
    close(err_fd); err_fd = -1;
    if (tty >= 0) close(tty);
    prctl(PR_SET_NAME, "kiln-init", 0, 0, 0);
    sigaddset(fwd, SIGCHLD);
    init_loop(main_pid, fwd);
  }
  finish_and_exec(&c->pr, tty);
}

/* ---------- the parent: monitor ---------- */

static int fwd_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGCONT, SIGALRM, SIGWINCH};

static void fwd_set(sigset_t *s) {
  sigemptyset(s);
  for (size_t i = 0; i < sizeof fwd_signals / sizeof *fwd_signals; i++) sigaddset(s, fwd_signals[i]);
}

static int recv_fd(int sock) {
  char cbuf[CMSG_SPACE(sizeof(int))], b;
  struct iovec iov = { &b, 1 };
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) <= 0) return -1;
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  int fd = -1;
  if (cm && cm->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  return fd;
}

static void copy_winsize(int master) {
  struct winsize ws;
  if (master >= 0 && ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
}

/* Wait for the started child: relay the terminal, forward signals, reap. Returns the exit code. */
static int supervise(pid_t child, int master) {
  sigset_t set;
  fwd_set(&set);
  sigaddset(&set, SIGCHLD);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  struct termios saved;
  int raw = master >= 0 && isatty(0) && tcgetattr(0, &saved) == 0;
  if (raw) { struct termios t = saved; cfmakeraw(&t); tcsetattr(0, TCSANOW, &t); }
  copy_winsize(master);
  int in_open = master >= 0, status = -1;
  char buf[16384];
  while (status < 0 || master >= 0) {
    struct pollfd p[3] = { { sfd, POLLIN, 0 }, { in_open ? 0 : -1, POLLIN, 0 }, { master, POLLIN, 0 } };
    if (poll(p, 3, status >= 0 ? 100 : -1) == 0) break; /* exited and the pty went quiet */
    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGWINCH) copy_winsize(master);
        else if (si.ssi_signo != SIGCHLD) kill(child, si.ssi_signo);
      }
      int st;
      if (status < 0 && waitpid(child, &st, WNOHANG) == child) status = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
    }
    if (p[1].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n <= 0) in_open = 0;
      else if (write(master, buf, n) < 0) in_open = 0;
    }
    if (master >= 0 && p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n <= 0) { close(master); master = -1; }
      else for (ssize_t o = 0; o < n;) { ssize_t w = write(1, buf + o, n - o); if (w <= 0) break; o += w; }
    }
  }
  if (raw) tcsetattr(0, TCSANOW, &saved);
  if (status < 0) { int st; waitpid(child, &st, 0); status = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st); }
  return status;
}

/* Wait for the child to exec (error pipe closes) or to report an error. Returns 0 or the error exit code. */
static int wait_exec(int rd) {
  char msg[2100];
  ssize_t n, len = 0;
  while ((n = read(rd, msg + len, sizeof msg - 1 - len)) > 0) len += n;
  close(rd);
  if (len == 0) return 0;
  msg[len] = 0;
  char *colon = strchr(msg, ':');
  int code = colon ? atoi(msg) : 1;
  log_line("error", colon ? colon + 1 : msg);
  return code ? code : 1;
}

static void write_pidfile(const char *f, pid_t pid) {
  if (!f) return;
  char tmp[PATH_MAX], v[32];
  snprintf(tmp, sizeof tmp, "%s.tmp", f);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("pid file %s: %m", f);
  int n = snprintf(v, sizeof v, "%d", pid);
  if (write(fd, v, n) != n || close(fd) || rename(tmp, f)) die("pid file %s: %m", f);
}

static jval *load_json(const char *path) {
  size_t len;
  char *text = read_file(path, 4 << 20, &len), err[256];
  if (!text) die("read %s: %m", path);
  jval *v = json_parse(text, len, err, sizeof err);
  if (!v) die("%s: %s", path, err);
  return v;
}

/* CVE-2019-5736: run from a sealed in-memory copy so the container can never write our binary. */
static void reexec_sealed(char **argv) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) { self[n] = 0; if (!strncmp(self, "/memfd:kiln-runtime", 19)) return; }
  int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  int mfd = memfd_create("kiln-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (src < 0 || mfd < 0) die("sealed copy of the runtime: %m");
  struct stat st;
  fstat(src, &st);
  for (off_t off = 0; off < st.st_size;) {
    ssize_t c = sendfile(mfd, src, NULL, st.st_size - off);
    if (c <= 0) die("copy runtime binary: %m");
    off += c;
  }
  close(src);
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)) die("seal runtime copy: %m");
  extern char **environ;
  fexecve(mfd, argv, environ);
  die("exec sealed runtime copy: %m");
}

static pid_t g_child;
static struct cg *g_cg;
static void cleanup(void) {
  if (g_child > 0) { kill(g_child, SIGKILL); waitpid(g_child, NULL, 0); g_child = 0; }
  if (g_cg) { cg_remove(g_cg); g_cg = NULL; }
}

static void write_id_map(pid_t pid, const char *file, const jval *maps) {
  char buf[4096] = "", p[64];
  size_t o = 0;
  for (size_t i = 0; maps && i < maps->n; i++)
    o += snprintf(buf + o, sizeof buf - o, "%lld %lld %lld\n", jint(maps->items[i], "containerID", 0),
                  jint(maps->items[i], "hostID", 0), jint(maps->items[i], "size", 0));
  snprintf(p, sizeof p, "/proc/%d/%s", pid, file);
  if (o && write_file(p, buf)) die("write %s: %m", p);
}

static int cmd_run(int argc, char **argv) {
  const char *bundle = ".", *pidfile = NULL, *id = NULL;
  struct ctx c = { .con_sock = -1 };
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if ((!strcmp(a, "--bundle") || !strcmp(a, "-b")) && i + 1 < argc) bundle = argv[++i];
    else if (!strcmp(a, "--pid-file") && i + 1 < argc) pidfile = argv[++i];
    else if (!strcmp(a, "--init")) c.init = 1;
    else if (!strcmp(a, "--die-with") && i + 1 < argc) {
      /* end with the caller (a build step): SIGKILL when it dies, which kills the container too
       * (its init has a parent-death signal of its own). Checked after prctl, so a caller that died
       * before cannot be missed. */
      pid_t caller = (pid_t)atoi(argv[++i]);
      if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)) die("prctl: %m");
      if (caller <= 0 || getppid() != caller) die_code(1, "run: the caller %d is gone", caller);
    }
    else if (!strcmp(a, "--keep") || !strcmp(a, "--no-new-keyring")) continue;
    else if (a[0] == '-') die_code(2, "run: unsupported option %s", a);
    else if (!id) id = a;
    else die_code(2, "run: unexpected argument %s", a);
  }
  if (!id) die_code(2, "run: a container id is required");
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/config.json", bundle);
  c.cfg = load_json(path);
  c.linux_ = jget(c.cfg, "linux");
  parse_process(jget(c.cfg, "process"), &c.pr);
  const char *root = jstr(jget(c.cfg, "root"), "path", "rootfs");
  snprintf(path, sizeof path, "%s%s%s", root[0] == '/' ? "" : bundle, root[0] == '/' ? "" : "/", root);
  if (!realpath(path, c.rootfs)) die("rootfs %s: %m", path);
  jval *ann = jget(c.cfg, "annotations");
  if (!strcmp(jstr(ann, "io.kiln.init", ""), "true")) c.init = 1;
  /* namespaces: new ones are clone flags; ones with a path are joined (pid by us, others by the child) */
  jval *nss = jget(c.linux_, "namespaces");
  int seen = 0;
  for (size_t i = 0; nss && i < nss->n; i++) {
    const char *t = jstr(nss->items[i], "type", "");
    size_t k, nt = sizeof ns_types / sizeof *ns_types;
    for (k = 0; k < nt; k++) if (!strcmp(t, ns_types[k].name)) break;
    if (k == nt) die("unknown namespace type %s", t);
    if (seen & ns_types[k].flag) die("duplicate namespace %s", t);
    seen |= ns_types[k].flag;
    const char *p = jstr(nss->items[i], "path", NULL);
    if (!p) c.nsflags |= ns_types[k].flag;
    else if (ns_types[k].flag == CLONE_NEWPID) {
      int fd = open(p, O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWPID)) die("join pid namespace %s: %m", p);
      close(fd);
    }
  }
  if (!(c.nsflags & CLONE_NEWNS)) die("kiln-runtime needs a new mount namespace");
  char defcg[300];
  snprintf(defcg, sizeof defcg, "kiln-runtime/%s", id);
  static struct cg cg; /* static: cleanup() runs from atexit, after a failing die() in here */
  g_cg = &cg;
  atexit(cleanup);
  cg_create(&cg, jstr(c.linux_, "cgroupsPath", defcg), jget(c.linux_, "resources"));
  if (!cg.v2 && !(c.nsflags & CLONE_NEWUSER)) c.self_cg = &cg; /* in a user namespace, host cgroup files are not ours */
  int sync[2], errp[2], sp[2] = {-1, -1};
  if (pipe2(sync, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) die("pipe: %m");
  if (c.pr.terminal && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp)) die("socketpair: %m");
  sigset_t fwd, blocked;
  fwd_set(&fwd);
  blocked = fwd;
  sigaddset(&blocked, SIGCHLD);
  sigprocmask(SIG_BLOCK, &blocked, NULL);
  signal(SIGPIPE, SIG_IGN);
  pid_t pid = syscall(SYS_clone, (unsigned long)c.nsflags | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) die("clone: %m");
  if (pid == 0) {
    err_fd = errp[1];
    close(errp[0]); close(sync[1]);
    if (sp[0] >= 0) close(sp[0]);
    c.sync_rd = sync[0];
    c.con_sock = sp[1];
    container_child(&c, &blocked);
  }
  g_child = pid;
  close(sync[0]); close(errp[1]);
  if (sp[1] >= 0) close(sp[1]);
  if (c.nsflags & CLONE_NEWUSER) {
    write_id_map(pid, "uid_map", jget(c.linux_, "uidMappings"));
    write_id_map(pid, "gid_map", jget(c.linux_, "gidMappings"));
  }
  /* a release that fails means the child is gone: its error, if it wrote one, is read below */
  int released = write(sync[1], "m", 1) == 1;
  if (!c.self_cg) cg_join(&cg, pid);
  released = released && write(sync[1], "g", 1) == 1;
  close(sync[1]);
  int master = sp[0] >= 0 ? recv_fd(sp[0]) : -1;
  if (sp[0] >= 0) close(sp[0]);
  int code = wait_exec(errp[0]);
  if (code) return code; /* cleanup() kills the child and removes the cgroup */
  if (!released) die("release container: the container process exited during set-up");
  write_pidfile(pidfile, pid);
  int status = supervise(pid, master);
  g_child = 0;
  long long ooms = cg_oom_kills(&cg);
  if (ooms > 0) logf_("warning", "oom-kill: %lld process(es) of container %s killed by the OOM killer (memory limit reached)", ooms, id);
  return status;
}

static int join_ns_and_cgroup(pid_t target) {
  /* cgroup first, while host paths are still visible */
  char mnt[PATH_MAX], root[PATH_MAX], cgp[PATH_MAX], p[PATH_MAX * 2], me[32];
  snprintf(me, sizeof me, "%d", getpid());
  if (cg_is_v2()) {
    if (!cg_of(target, NULL, cgp) && !cg_mount(NULL, mnt, root)) {
      snprintf(p, sizeof p, "%s/%s/cgroup.procs", mnt, cgp + (strcmp(root, "/") ? strlen(root) : 0));
      if (write_file(p, me)) die("join cgroup %s: %m", p);
    }
  } else {
    for (int i = 0; i < NV1; i++) {
      if (cg_of(target, v1_ctrls[i], cgp) || cg_mount(v1_ctrls[i], mnt, root)) continue;
      snprintf(p, sizeof p, "%s/%s/cgroup.procs", mnt, cgp + (strcmp(root, "/") ? strlen(root) : 0));
      if (write_file(p, me)) die("join cgroup %s: %m", p);
    }
  }
  static const char *order[] = {"user", "ipc", "uts", "net", "pid", "cgroup", "mnt"};
  int fds[7];
  for (int i = 0; i < 7; i++) {
    char a[64], b[64];
    struct stat sa, sb;
    snprintf(a, sizeof a, "/proc/%d/ns/%s", target, order[i]);
    snprintf(b, sizeof b, "/proc/self/ns/%s", order[i]);
    fds[i] = -1;
    if (stat(a, &sa) || stat(b, &sb)) { if (i == 6) die("container process %d not found: %m", target); continue; }
    if (sa.st_ino != sb.st_ino) fds[i] = open(a, O_RDONLY | O_CLOEXEC);
  }
  for (int i = 0; i < 7; i++)
    if (fds[i] >= 0) { if (setns(fds[i], 0)) die("join %s namespace of %d: %m", order[i], target); close(fds[i]); }
  return 0;
}

static int cmd_exec(int argc, char **argv) {
  const char *procfile = NULL, *pidfile = NULL;
  pid_t target = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--pid") && i + 1 < argc) target = atoi(argv[++i]);
    else if ((!strcmp(argv[i], "--process") || !strcmp(argv[i], "-p")) && i + 1 < argc) procfile = argv[++i];
    else if (!strcmp(argv[i], "--pid-file") && i + 1 < argc) pidfile = argv[++i];
    else die_code(2, "exec: unsupported argument %s", argv[i]);
  }
  if (target <= 0 || !procfile) die_code(2, "exec: --pid PID and --process FILE are required");
  struct proc pr;
  parse_process(load_json(procfile), &pr);
  int pidfd = pidfile ? open(pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
  if (pidfile && pidfd < 0) die("pid file %s: %m", pidfile);
  join_ns_and_cgroup(target);
  int errp[2], sp[2] = {-1, -1};
  if (pipe2(errp, O_CLOEXEC)) die("pipe: %m");
  if (pr.terminal && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp)) die("socketpair: %m");
  sigset_t blocked;
  fwd_set(&blocked);
  sigaddset(&blocked, SIGCHLD);
  sigprocmask(SIG_BLOCK, &blocked, NULL);
  signal(SIGPIPE, SIG_IGN);
  atexit(cleanup);
  pid_t pid = fork();
  if (pid < 0) die("fork: %m");
  if (pid == 0) {
    err_fd = errp[1];
    close(errp[0]);
    if (pidfd >= 0) close(pidfd);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    int tty = pr.terminal ? setup_pty(sp[1]) : -1;
    finish_and_exec(&pr, tty);
  }
  g_child = pid;
  close(errp[1]);
  if (sp[1] >= 0) close(sp[1]);
  int master = sp[0] >= 0 ? recv_fd(sp[0]) : -1;
  int code = wait_exec(errp[0]);
  if (code) return code;
  if (pidfd >= 0) { dprintf(pidfd, "%d", pid); close(pidfd); }
  int status = supervise(pid, master);
  g_child = 0;
  return status;
}

/* ---------- mount / umount: mount(8) and umount(8) for kiln's snapshots ----------
 * src/snapshot/mount.ts mounts every build step's snapshot (overlay, bind/rbind with flags). util-linux
 * takes ~6 ms a call here (libmount, /proc/filesystems, utab); these take a fraction of that.
 *   kiln-runtime mount [-t TYPE] [-o OPTS] SOURCE TARGET   (bind + ro & co: a bind, then a remount)
 *   kiln-runtime umount [-R] [-l] TARGET                  (-R: everything at or below TARGET, deepest first)
 * Errors: "kiln-runtime: ..." on stderr, exit 32 like mount(8); "not mounted" when TARGET is none. */

static int cmd_mount(int argc, char **argv) {
  const char *type = NULL, *opts = "";
  int i = 0;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "-t") && i + 1 < argc) type = argv[++i];
    else if (!strcmp(argv[i], "-o") && i + 1 < argc) opts = argv[++i];
    else die_code(2, "mount: unknown option %s", argv[i]);
  }
  if (argc - i != 2) die_code(2, "usage: kiln-runtime mount [-t TYPE] [-o OPTS] SOURCE TARGET");
  const char *src = argv[i], *target = argv[i + 1];
  unsigned long flags = 0, prop = 0;
  size_t dlen = strlen(opts) + 1;
  char *data = calloc(1, dlen), *copy = strdup(opts), *save = NULL;
  if (!data || !copy) die_code(32, "mount: out of memory");
  for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
    size_t k, nf = sizeof mount_flags / sizeof *mount_flags;
    for (k = 0; k < nf; k++) if (!strcmp(o, mount_flags[k].name)) break;
    if (k == nf) {
      if (data[0]) strcat(data, ",");
      strcat(data, o); /* fits: data is as long as opts */
    } else if (mount_flags[k].flag & PROPAGATION) prop |= mount_flags[k].flag;
    else if (mount_flags[k].clear) flags &= ~mount_flags[k].flag;
    else flags |= mount_flags[k].flag;
  }
  if (flags & MS_BIND) {
    if (mount(src, target, NULL, flags & (MS_BIND | MS_REC), NULL)) die_code(32, "mount %s on %s: %m", src, target);
    unsigned long rest = flags & ~(MS_BIND | MS_REC);
    if (rest && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | rest, NULL)) {
      int e = errno;
      umount2(target, MNT_DETACH);
      errno = e;
      die_code(32, "remount %s with its flags: %m", target);
    }
  } else if (mount(src, target, type, flags, data[0] ? data : NULL)) {
    die_code(32, "mount %s%s on %s: %m", type ? type : "", type ? " filesystem" : src, target);
  }
  if (prop && mount(NULL, target, NULL, prop, NULL)) die_code(32, "set propagation of %s: %m", target);
  free(data);
  free(copy);
  return 0;
}

/* mountinfo's mount point field, with its \ooo escapes decoded in place */
static void unescape_octal(char *s) {
  char *o = s;
  for (; *s; s++) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
      *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
      s += 3;
    } else *o++ = *s;
  }
  *o = 0;
}

static int cmd_umount(int argc, char **argv) {
  int recursive = 0, flags = 0, i = 0;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "-R")) recursive = 1;
    else if (!strcmp(argv[i], "-l")) flags = MNT_DETACH;
    else die_code(2, "umount: unknown option %s", argv[i]);
  }
  if (argc - i != 1) die_code(2, "usage: kiln-runtime umount [-R] [-l] TARGET");
  char target[PATH_MAX];
  if (!realpath(argv[i], target)) die_code(32, "umount %s: %m", argv[i]);
  size_t tl = strlen(target);
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) die_code(32, "read /proc/self/mountinfo: %m");
  char **points = NULL, line[8192];
  size_t n = 0, cap = 0;
  while (fgets(line, sizeof line, f)) {
    char *save = NULL, *field = strtok_r(line, " ", &save);
    for (int k = 0; field && k < 4; k++) field = strtok_r(NULL, " ", &save); /* the 5th field: mount point */
    if (!field) continue;
    unescape_octal(field);
    int at = !strcmp(field, target), below = !strncmp(field, target, tl) && (tl == 1 || field[tl] == '/');
    if (!at && !(recursive && below)) continue;
    if (n == cap && !(points = realloc(points, (cap = cap ? cap * 2 : 8) * sizeof *points))) die_code(32, "umount: out of memory");
    if (!(points[n++] = strdup(field))) die_code(32, "umount: out of memory");
  }
  fclose(f);
  if (n == 0) die_code(32, "umount %s: not mounted", target);
  /* mountinfo lists parents before children (and stacked mounts in order): undo it backwards */
  for (size_t k = n; k-- > 0;) {
    if (umount2(points[k], flags) && errno != EINVAL && errno != ENOENT) die_code(32, "umount %s: %m", points[k]);
    free(points[k]);
  }
  free(points);
  return 0;
}

/* kiln-runtime mount-server: the mount and umount commands above, for one long-lived caller
 * (src/snapshot/mount-server.ts), so a build step does not pay a Node fork+exec (~3 ms) for each of
 * its mounts. Requests on stdin: u32 length, then NUL-terminated fields: the working directory
 * ("" for none), the command (mount or umount), its arguments. Each runs in a forked child (which
 * may exit through die_code as the one-shot commands do); the answer on stdout: i32 exit status
 * (128+N for a signal), u32 length, what the child wrote on stderr. EOF on stdin ends it. */
static int read_full(int fd, void *buf, size_t n) {
  for (size_t got = 0; got < n;) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static int write_full(int fd, const void *buf, size_t n) {
  for (size_t put = 0; put < n;) {
    ssize_t w = write(fd, (const char *)buf + put, n - put);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    put += (size_t)w;
  }
  return 0;
}

static int cmd_mount_server(void) {
  for (;;) {
    uint32_t len;
    if (read_full(0, &len, 4)) return 0;
    if (len == 0 || len > (1u << 20)) return 2;
    char *req = malloc(len + 1);
    if (!req || read_full(0, req, len)) return 2;
    req[len] = 0;
    char *fields[256];
    int nf = 0;
    for (size_t o = 0; o < len && nf < 255; o += strlen(req + o) + 1) fields[nf++] = req + o;
    fields[nf] = NULL;
    int errp[2];
    if (nf < 2 || pipe2(errp, O_CLOEXEC)) return 2;
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) {
      int null = open("/dev/null", O_RDWR);
      if (null >= 0) { dup2(null, 0); dup2(null, 1); }
      dup2(errp[1], 2);
      if (fields[0][0] && chdir(fields[0])) die_code(32, "chdir %s: %m", fields[0]);
      if (!strcmp(fields[1], "mount")) _exit(cmd_mount(nf - 2, fields + 2));
      if (!strcmp(fields[1], "umount")) _exit(cmd_umount(nf - 2, fields + 2));
      die_code(2, "mount-server: unknown command %s", fields[1]);
    }
    close(errp[1]);
    char err[8192];
    size_t elen = 0;
    for (;;) {
      ssize_t r = read(errp[0], err + elen, sizeof err - elen);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      elen += (size_t)r;
      if (elen == sizeof err) elen = sizeof err - 1; /* keep reading (and dropping) the rest */
    }
    close(errp[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    int32_t status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    uint32_t el = (uint32_t)elen;
    if (write_full(1, &status, 4) || write_full(1, &el, 4) || write_full(1, err, elen)) return 0;
    free(req);
  }
}

int main(int argc, char **argv) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "--log") && i + 1 < argc) {
      log_fd = open(argv[++i], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (log_fd < 0) die("log file %s: %m", argv[i]);
    } else if (!strcmp(argv[i], "--log-format") && i + 1 < argc) log_json = !strcmp(argv[++i], "json");
    else if (!strcmp(argv[i], "--root") && i + 1 < argc) i++; /* no state dir: run is foreground-only */
    else if (!strcmp(argv[i], "--debug")) continue;
    else if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-v")) { puts("kiln-runtime version 0.1.0\nspec: 1.0.2"); return 0; }
    else die_code(2, "unknown global option %s", argv[i]);
  }
  if (i >= argc) {
    fputs("usage: kiln-runtime [--log FILE] [--log-format text|json] run [--bundle DIR] [--pid-file F] [--init] [--die-with PID] ID\n"
          "       kiln-runtime [--log FILE] [--log-format text|json] exec --pid PID --process FILE [--pid-file F]\n"
          "       kiln-runtime mount [-t TYPE] [-o OPTS] SOURCE TARGET | umount [-R] [-l] TARGET | mount-server\n", stderr);
    return 2;
  }
  const char *cmd = argv[i];
  if (!strcmp(cmd, "mount")) return cmd_mount(argc - i - 1, argv + i + 1);
  if (!strcmp(cmd, "umount")) return cmd_umount(argc - i - 1, argv + i + 1);
  if (!strcmp(cmd, "mount-server")) return cmd_mount_server();
  if (strcmp(cmd, "run") && strcmp(cmd, "exec")) die_code(2, "unknown command %s (supported: run, exec, mount, umount, mount-server)", cmd);
  reexec_sealed(argv);
  return !strcmp(cmd, "run") ? cmd_run(argc - i - 1, argv + i + 1) : cmd_exec(argc - i - 1, argv + i + 1);
}
