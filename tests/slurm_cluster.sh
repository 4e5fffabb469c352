#!/usr/bin/env bash
# A one-node Slurm cluster on this host, for the tests: munged with a
# generated key, slurmctld and slurmd as root, everything (state, spool,
# sockets, logs) under one folder and on ports of its own, so that it
# touches nothing of the system's.
#   slurm_cluster.sh start DIR   starts it; prints the slurm.conf to set as SLURM_CONF
#   slurm_cluster.sh stop DIR    stops what start started
# Needs root, munge and slurm-wlm (tools/setup.sh installs them).
set -euo pipefail
command=${1:-} dir=${2:-}
[ -n "$command" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

stop() {
  for daemon in slurmd slurmctld munged; do
    pidfile="$dir/$daemon.pid"
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

case $command in
stop) stop; exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

[ "$(id -u)" -eq 0 ] || { echo "$0: slurmd runs jobs as their users, so it needs root" >&2; exit 1; }
for program in munged slurmctld slurmd sbatch sinfo; do
  command -v "$program" > /dev/null || { echo "$0: $program is not installed (tools/setup.sh installs it)" >&2; exit 1; }
done
mkdir -p "$dir"/{munge,run,state,spool,log}
dir=$(cd "$dir" && pwd)
# The key is root's alone; the socket's folder open to the user who
# submits (sbatch run without root reaches munged through it).
chmod 700 "$dir/munge"
chmod 755 "$dir" "$dir/run"
head -c 1024 /dev/urandom > "$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"
trap 'stop' ERR
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/run/munge.socket" \
       --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed"

# Ports of its own, away from a real cluster's 6817 and 6818.
port=$((20000 + (RANDOM % 2000) * 2))
host=$(hostname -s)
cpus=$(nproc)
memory=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
cat > "$dir/slurm.conf" <<CONF
ClusterName=cmttest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/run/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -i
slurmd
for _ in $(seq 300); do
  state=$(sinfo -h -o %T 2>/dev/null || true)
  case $state in idle*|mixed*|allocated*) echo "$SLURM_CONF"; exit 0 ;; esac
  sleep 0.2
done
echo "$0: the cluster did not come up in 60 s (its logs are in $dir/log):" >&2
tail -n 5 "$dir"/log/*.log >&2 || true
stop
exit 1
