//! How an instance is launched: its directories, the control script watchfrr runs to start,
//! stop and restart daemons, and watchfrr's own command line.

use super::*;

impl Instance {
    /// Checks the spec, creates the directories and writes the control
    /// script; returns watchfrr's command line.
    pub(super) fn prepare(&self) -> Result<Vec<OsString>, InstanceError> {
        let spec = &self.spec;
        if let Some(problem) = missing_prerequisite(spec) {
            return Err(self.invalid(problem));
        }
        if !spec.daemons.iter().any(|d| d == "zebra") {
            return Err(self.invalid("the daemon list must contain zebra"));
        }
        for daemon in &spec.daemons {
            if daemon.is_empty() || !daemon.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(self.invalid(format!("bad daemon name {daemon:?}")));
            }
        }
        // watchfrr substitutes the daemon name with printf and splits its
        // commands on spaces: the run directory must contain neither.
        let run = spec.run_dir.to_str().ok_or_else(|| self.invalid("the run directory is not UTF-8"))?;
        if run.contains(['%', ' ', '\'', '"', '\\']) || !spec.run_dir.is_absolute() {
            return Err(
                self.invalid(format!("the run directory {run:?} must be absolute, without spaces, quotes or %"))
            );
        }
        if !spec.config_dir.is_absolute() {
            return Err(self.invalid("the config directory must be an absolute path"));
        }
        if let Some(netns) = spec.netns.path()
            && !netns.exists()
        {
            return Err(self.invalid(format!("network namespace {} does not exist", netns.display())));
        }
        if let DaemonState::Running { pid } = self.daemon_state("watchfrr") {
            return Err(InstanceError::AlreadyRunning { instance: spec.name.clone(), pid });
        }
        // Daemons of an earlier run that lost their watchfrr would clash
        // with the new ones (same sockets).
        if let Some(pid) = self.stray_processes().first() {
            return Err(InstanceError::AlreadyRunning { instance: spec.name.clone(), pid: *pid });
        }
        let (uid, gid) = lookup_ids(&spec.user, &spec.group).map_err(|r| self.invalid(r))?;

        if let Some(ns) = spec.daemon_pathspace()
            && (ns.is_empty() || ns.contains(['/', '.']) || ns.contains(char::is_whitespace))
        {
            return Err(self.invalid(format!(
                "{ns:?} cannot be the daemons' pathspace (-N): FRR refuses slashes and dots; \
                 name the instance without them"
            )));
        }
        let state_dir = spec.state_dir();
        for dir in [Some(&spec.run_dir), Some(&spec.config_dir), state_dir.as_ref()].into_iter().flatten() {
            if !dir.exists() {
                std::fs::create_dir_all(dir).map_err(|e| self.io("cannot create", dir, e))?;
                std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|e| self.io("cannot chown", dir, e))?;
            }
        }
        // The daemons (user frr) create their pid files and sockets here.
        std::os::unix::fs::chown(&spec.run_dir, Some(uid), Some(gid))
            .map_err(|e| self.io("cannot chown", &spec.run_dir, e))?;
        let vtysh_conf = spec.config_dir.join("vtysh.conf");
        if !vtysh_conf.exists() {
            std::fs::write(&vtysh_conf, "service integrated-vtysh-config\n")
                .map_err(|e| self.io("cannot write", &vtysh_conf, e))?;
        }
        // Leftovers of a previous run that was not stopped cleanly.
        for daemon in self.all_daemons() {
            let _ = std::fs::remove_file(self.pid_file(&daemon));
        }
        let _ = std::fs::remove_file(spec.run_dir.join(BOOTED_MARKER));
        let _ = std::fs::remove_file(spec.run_dir.join(BOOTING_MARKER));
        let script = spec.run_dir.join(CTL_SCRIPT);
        std::fs::write(&script, self.control_script()).map_err(|e| self.io("cannot write", &script, e))?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| self.io("cannot chmod", &script, e))?;
        Ok(self.launch_argv(&script))
    }

    /// The shell script watchfrr calls as `SCRIPT start|stop|restart DAEMON|all`.
    pub(super) fn control_script(&self) -> String {
        let spec = &self.spec;
        let run = shell_quote(&spec.run_dir.to_string_lossy());
        let conf = shell_quote(&spec.config_dir.to_string_lossy());
        let vtysh = shell_quote(&spec.vtysh_program.to_string_lossy());
        let daemons = spec.ordered_daemons();
        let first: Vec<&str> = daemons.iter().map(String::as_str).filter(|d| STARTED_ALONE.contains(d)).collect();
        let others: Vec<&str> = daemons.iter().map(String::as_str).filter(|d| !STARTED_ALONE.contains(d)).collect();
        let first_reversed: Vec<&str> = first.iter().rev().copied().collect();
        let mut s = String::new();
        let _ = writeln!(s, "#!/bin/sh");
        let _ = writeln!(s, "# FRR instance {:?}: start/stop/restart commands for watchfrr.", spec.name);
        let _ = writeln!(s, "# Usage: $0 start|stop|restart DAEMON|all. Generated; do not edit.");
        let _ = writeln!(s, "RUN={run}");
        let _ = writeln!(s, "CONF={conf}");
        let _ = writeln!(s, "FIRST='{}'", first.join(" "));
        let _ = writeln!(s, "FIRST_REVERSED='{}'", first_reversed.join(" "));
        let _ = writeln!(s, "OTHERS='{}'", others.join(" "));
        let _ = writeln!(s, "exec >>\"$RUN/frr-ctl.log\" 2>&1");
        let _ = writeln!(s, "echo \"$(date '+%F %T') $*\"");
        // watchfrr kills a job after -T seconds (see `launch_argv`): a job waiting for `restart
        // all` gives up well before that, on its own (ticks of 50 ms).
        let _ = writeln!(s, "WAIT_TICKS={}", watchfrr_job_timeout(spec) * 10);
        s.push_str(
            r#"# watchfrr reaps one child per SIGCHLD it handles: jobs that end together can leave one it
# counts as running for ever, and while it counts one it postpones the phased restart that brings
# zebra back (the daemons then stay down). So every job ends at least half a second after the one
# before (a lock held for that half second on the way out), a TERM from watchfrr included, and
# a `restart all` that ends early takes its marker with it.
OWN_MARKER=
trap '[ -z "$OWN_MARKER" ] || rm -f "$RUN/frr-ctl.starting"; exec 9>>"$RUN/frr-ctl.exit.lock"; flock -w 10 9; sleep 0.5' EXIT
trap 'exit 143' TERM INT
"#,
        );
        let _ = writeln!(s, "start_one() {{");
        let _ = writeln!(s, "  case \"$1\" in");
        for daemon in &daemons {
            let mut words = vec![spec.sbin_dir.join(daemon).to_string_lossy().into_owned(), "-d".to_string()];
            if let Some(ns) = spec.daemon_pathspace() {
                words.extend(["-N".to_string(), ns]);
            }
            let path = |name: String| spec.run_dir.join(name).to_string_lossy().into_owned();
            words.extend([
                "-i".to_string(),
                path(format!("{daemon}.pid")),
                "-z".to_string(),
                path("zserv.api".to_string()),
                "--vty_socket".to_string(),
                spec.run_dir.to_string_lossy().into_owned(),
                "-P".to_string(),
                "0".to_string(),
                "--log".to_string(),
                format!("file:{}", path(format!("{daemon}.log"))),
            ]);
            if takes_config_file(spec.version, daemon) {
                words.extend(["-f".to_string(), "/dev/null".to_string()]);
            }
            if daemon == "bfdd" && !spec.version.at_least(10, 0) {
                // FRR 10.3's bfdd has no --bfdctl: its control socket is in the
                // run-state directory, which -N makes per instance.
                words.extend(["--bfdctl".to_string(), path("bfdd.sock".to_string())]);
            }
            words.extend(spec.daemon_args.get(daemon).cloned().unwrap_or_default());
            let line: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
            let _ = writeln!(s, "  {daemon}) {} ;;", line.join(" "));
        }
        let _ = writeln!(s, "  *) echo \"unknown daemon $1\"; return 1 ;;");
        let _ = writeln!(s, "  esac");
        let _ = writeln!(s, "}}");
        s.push_str(
            r#"stop_one() {
  [ -r "$RUN/$1.pid" ] || return 0
  pid=$(cat "$RUN/$1.pid")
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || return 0
  n=0
  while kill -0 "$pid" 2>/dev/null; do
    n=$((n + 1))
    if [ "$n" -gt 200 ]; then kill -KILL "$pid" 2>/dev/null; break; fi
    sleep 0.05
  done
  rm -f "$RUN/$1.pid"
}
boot() {
  [ -s "$CONF/frr.conf" ] || return 0
  echo $$ >"$RUN/frr-ctl.booting"
"#,
        );
        let _ = writeln!(s, "  {vtysh} --vty_socket \"$RUN\" --config_dir \"$CONF\" -b \"$@\"");
        let _ = writeln!(s, "  rm -f \"$RUN/frr-ctl.booting\"");
        s.push_str(
            r#"}
# watchfrr polls every 2 s: while `restart all` is still starting the daemons (slow under
# emulation), it may ask to (re)start one of them; a second copy would fail on the pid file
# lock and the whole start with it. Wait for `restart all`, then skip a daemon that runs; when
# `restart all` takes longer than half watchfrr's patience, fail (watchfrr asks again later).
wait_all() {
  n=0
  while [ -e "$RUN/frr-ctl.starting" ]; do
    n=$((n + 1))
    if [ "$n" -gt "$WAIT_TICKS" ]; then echo "restart all still running: $1 left to a later attempt"; exit 1; fi
    sleep 0.05
  done
  pid=$(cat "$RUN/$1.pid" 2>/dev/null)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}
case "$1:$2" in
start:all|restart:all)
  OWN_MARKER=1
  touch "$RUN/frr-ctl.starting"
  for d in $OTHERS; do stop_one "$d" & done; wait
  for d in $FIRST_REVERSED; do stop_one "$d"; done
  for d in $FIRST; do start_one "$d" || { rm -f "$RUN/frr-ctl.starting"; exit 1; }; done
  for d in $OTHERS; do start_one "$d" & done; wait
  rm -f "$RUN/frr-ctl.starting"
  boot
  touch "$RUN/frr-ctl.booted" ;;
stop:all)
  for d in $OTHERS; do stop_one "$d" & done; wait
  for d in $FIRST_REVERSED; do stop_one "$d"; done ;;
start:*) wait_all "$2" && exit 0; start_one "$2" && boot -d "$2" ;;
restart:*) wait_all "$2" && exit 0; stop_one "$2"; start_one "$2" && boot -d "$2" ;;
stop:*) stop_one "$2" ;;
*) echo "usage: $0 start|stop|restart DAEMON|all"; exit 2 ;;
esac
"#,
        );
        s
    }

    pub(super) fn launch_argv(&self, script: &Path) -> Vec<OsString> {
        let spec = &self.spec;
        let mut argv: Vec<OsString> = Vec::new();
        if let Some(netns) = spec.netns.path() {
            argv.push("nsenter".into());
            argv.push(format!("--net={}", netns.display()).into());
            argv.push("--".into());
        }
        if let Some(hostname) = &spec.hostname {
            argv.extend(["unshare", "--uts", "--", "sh", "-c", r#"hostname "$0" && exec "$@""#].map(OsString::from));
            argv.push(hostname.into());
        }
        let script = script.to_string_lossy();
        let run = spec.run_dir.to_string_lossy().into_owned();
        argv.push(spec.sbin_dir.join("watchfrr").into());
        argv.push("-d".into());
        // -N keeps watchfrr's "watchfrr.started" marker out of the shared
        // /var/run/frr (it goes to /var/run/frr/NAME, when that exists).
        argv.push("-N".into());
        argv.push(spec.pathspace.clone().unwrap_or_else(|| spec.name.clone()).into());
        for (flag, value) in [
            ("--vty_socket", run.clone()),
            ("-S", run.clone()),
            ("-p", format!("{run}/watchfrr.pid")),
            ("--log", format!("file:{run}/watchfrr.log")),
            // The start script may take as long as start() waits (zebra can
            // block on the kernel's rtnl lock on a busy machine).
            ("-T", watchfrr_job_timeout(spec).to_string()),
            // A crashed daemon is restarted within seconds (watchfrr's defaults wait 60 s and
            // double up to 600 s): the kernel keeps forwarding meanwhile, but sessions and
            // routes only come back with the daemon.
            ("-i", "2".to_string()),
            // A daemon that has not answered watchfrr's echo for this long is restarted. At
            // scale a daemon busy with a burst of kernel events answers late: in the emulated
            // VM, zebra and bgpd went 90 s (watchfrr's default) without answering while 5 503
            // links were made for 1 100 VNIs, and the restart of every daemon that followed
            // made them busy again. A crashed daemon is noticed at once either way (its socket
            // closes).
            ("-t", UNRESPONSIVE_TIMEOUT.as_secs().to_string()),
            ("--min-restart-interval", "1".to_string()),
            ("--max-restart-interval", "10".to_string()),
            ("-s", format!("{script} start %s")),
            ("-r", format!("{script} restart %s")),
            ("-k", format!("{script} stop %s")),
        ] {
            argv.push(flag.into());
            argv.push(value.into());
        }
        argv.extend(spec.ordered_daemons().into_iter().map(OsString::from));
        argv
    }
}

/// How long a daemon may leave watchfrr's echo unanswered before watchfrr restarts it (`-t`).
const UNRESPONSIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Seconds watchfrr lets a job of the control script run before it kills it (`-T`): the start
/// script may take as long as `start()` waits.
fn watchfrr_job_timeout(spec: &InstanceSpec) -> u64 {
    spec.start_timeout.as_secs().max(20)
}

/// Quotes a word for sh.
fn shell_quote(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:=+,@".contains(c)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::tests::spec;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/a/b-c.d"), "/a/b-c.d");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn mgmtd_starts_before_zebra() {
        let mut spec = spec();
        spec.daemons = ["bgpd", "zebra", "bfdd", "mgmtd", "staticd"].map(String::from).to_vec();
        assert_eq!(spec.ordered_daemons(), ["mgmtd", "zebra", "bgpd", "bfdd", "staticd"]);
        let script = Instance::new(spec.clone()).control_script();
        assert!(
            script.contains("FIRST='mgmtd zebra'\nFIRST_REVERSED='zebra mgmtd'\nOTHERS='bgpd bfdd staticd'"),
            "{script}"
        );
        assert!(script.contains("  mgmtd) /usr/lib/frr/mgmtd -d -N t1 -i /run/t1/mgmtd.pid"), "{script}");
        assert!(script.contains("  bgpd) /usr/lib/frr/bgpd -d -N t1 -i"), "every daemon shares mgmtd's -N: {script}");
        assert!(script.contains("--log file:/run/t1/mgmtd.log ;;"), "mgmtd takes no -f: {script}");
        assert_eq!(spec.state_dir(), Some(PathBuf::from("/var/run/frr/t1")));
        let argv = Instance::new(spec).launch_argv(Path::new("/run/t1/frr-ctl.sh"));
        let line: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(line.join(" ").ends_with("mgmtd zebra bgpd bfdd staticd"), "{line:?}");
    }

    #[test]
    fn launch_line_enters_namespaces_and_passes_private_paths() {
        let mut spec = spec();
        spec.hostname = Some("leaf-1".into());
        let inst = Instance::new(spec);
        let argv: Vec<String> = inst
            .launch_argv(Path::new("/run/t1/frr-ctl.sh"))
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let line = argv.join(" ");
        assert!(line.starts_with("nsenter --net=/run/netns/ns1 -- unshare --uts -- sh -c"), "{line}");
        assert!(line.contains("leaf-1 /usr/lib/frr/watchfrr -d -N t1 --vty_socket /run/t1 -S /run/t1"), "{line}");
        assert!(line.contains("-s /run/t1/frr-ctl.sh start %s -r /run/t1/frr-ctl.sh restart %s"), "{line}");
        assert!(line.contains(" -i 2 -t 300 "), "a busy daemon is given 300 s: {line}");
        assert!(line.ends_with("zebra bgpd staticd bfdd"), "{line}");
    }

    #[test]
    fn control_script_starts_zebra_first_and_the_rest_in_parallel() {
        let script = Instance::new(spec()).control_script();
        assert!(
            script.contains("  zebra) /usr/lib/frr/zebra -d -i /run/t1/zebra.pid -z /run/t1/zserv.api"),
            "{script}"
        );
        assert!(script.contains("--bfdctl /run/t1/bfdd.sock"), "{script}");
        assert!(script.contains("-P 0 --log file:/run/t1/zebra.log -f /dev/null -s 90000000 ;;"), "{script}");
        assert!(script.contains("OTHERS='bgpd staticd bfdd'"), "{script}");
        let start = script.find("for d in $FIRST; do start_one \"$d\" || {").unwrap();
        let parallel = script.find("for d in $OTHERS; do start_one \"$d\" & done; wait").unwrap();
        assert!(start < parallel);
    }

    /// Jobs watchfrr starts together, for daemons that already run, end at least about half a
    /// second apart (watchfrr reaps one child per SIGCHLD it handles: ends that coincide leave a
    /// child it counts for ever, and zebra's restart then never comes).
    #[test]
    fn control_script_jobs_end_apart() {
        if crate::layout::find_in_path("flock").is_none() {
            eprintln!("!!! SKIPPED control_script_jobs_end_apart: no flock in PATH !!!");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut spec = spec();
        spec.run_dir = dir.path().join("run");
        spec.config_dir = dir.path().join("etc");
        std::fs::create_dir_all(&spec.run_dir).unwrap();
        let script = spec.run_dir.join("frr-ctl.sh");
        std::fs::write(&script, Instance::new(spec.clone()).control_script()).unwrap();
        // Every daemon "runs": its pid file holds this test's pid.
        let daemons = ["bgpd", "staticd", "bfdd"];
        for d in daemons {
            std::fs::write(spec.run_dir.join(format!("{d}.pid")), std::process::id().to_string()).unwrap();
        }
        let started = std::time::Instant::now();
        let mut children: Vec<_> = daemons
            .iter()
            .map(|d| std::process::Command::new("sh").arg(&script).args(["start", d]).spawn().unwrap())
            .collect();
        let mut ends = Vec::new();
        while !children.is_empty() {
            children.retain_mut(|c| match c.try_wait().unwrap() {
                Some(st) => {
                    assert!(st.success(), "a job for a running daemon failed: {st}");
                    ends.push(started.elapsed());
                    false
                }
                None => true,
            });
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        ends.sort();
        for pair in ends.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap >= std::time::Duration::from_millis(400), "two jobs ended {gap:?} apart: {ends:?}");
        }
        let log = std::fs::read_to_string(spec.run_dir.join("frr-ctl.log")).unwrap();
        assert_eq!(log.lines().filter(|l| l.ends_with(" start bgpd")).count(), 1, "{log}");
    }
}
