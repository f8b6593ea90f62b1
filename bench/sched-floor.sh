#!/usr/bin/env bash
# What the scheduler allows the control plane beside 50 spinning processes, by mechanism: timer
# lateness (p50/p99 of 400 sleeps of 5 ms) of a Node process at normal priority. Linux, as root
# for the cgroup part (cgroup v1's cpu controller or a writable cgroup v2 with cpu.idle).
# Usage: bash bench/sched-floor.sh
set -u
lat='const s=[];for(let i=0;i<400;i++){const t=performance.now();await new Promise(r=>setTimeout(r,5));s.push(performance.now()-t-5)}s.sort((a,b)=>a-b);console.log(process.argv[1].padEnd(40),"p50",s[200].toFixed(2),"ms  p99",s[396].toFixed(2),"ms")'
measure() { node --input-type=module -e "$lat" "$1"; }
spin() { # $1: a command run first in each spinner's shell
  pids=()
  for _ in $(seq 50); do setsid sh -c "$1; while :; do :; done" & pids+=($!); done
  sleep 2
}
stop() { kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; sleep 1; }

measure 'no load'
spin 'echo 19 > /proc/$$/autogroup'; measure 'autogroup nice 19'; stop
spin 'echo 19 > /proc/$$/autogroup; chrt --idle -p 0 $$ >/dev/null'; measure 'autogroup nice 19 + SCHED_IDLE'; stop
cg=''
for base in /sys/fs/cgroup/cpu /sys/fs/cgroup; do
  if [ -f "$base/cpu.idle" ] || [ -f "$base/cgroup.subtree_control" ]; then
    if mkdir "$base/taskwarden-sched-floor" 2>/dev/null; then
      if echo 1 > "$base/taskwarden-sched-floor/cpu.idle" 2>/dev/null; then cg="$base/taskwarden-sched-floor"; break; fi
      rmdir "$base/taskwarden-sched-floor"
    fi
  fi
done
if [ -n "$cg" ]; then
  spin "echo \$\$ > $cg/cgroup.procs"; measure 'one cgroup with cpu.idle=1'; stop
  rmdir "$cg"
else
  echo 'no writable cgroup with cpu.idle here'
fi
