# Shared settings and pid-file helpers of cluster/dev/start and cluster/dev/stop (sourced).

STATE_DIR="${FIXCLR_DEVCLUSTER_DIR:-/var/tmp/fixclr-devcluster}"
ETC_DIR="$STATE_DIR/etc"
LOG_DIR="$STATE_DIR/log"
PID_DIR="$STATE_DIR/pid"
MUNGE_DIR="$STATE_DIR/munge"          # owned by the munge user: munged's pid, log and seed
DB_DIR="$STATE_DIR/mariadb"             # owned by the mysql user: data, socket, pid and log
DB_SOCKET="$DB_DIR/mariadbd.sock"
DB_PORT="${FIXCLR_DEVCLUSTER_DB_PORT:-3307}"
SLURM_CONF_FILE="$ETC_DIR/slurm.conf"
SYSTEM_SLURM_CONF="/etc/slurm/slurm.conf"   # where sinfo/sbatch/srun look without SLURM_CONF

# The order daemons start in; stop walks it backwards.
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)

# Daemons find slurmdbd.conf and gres.conf next to $SLURM_CONF.
export SLURM_CONF="$SLURM_CONF_FILE"

pid_file() {
    # pid file of daemon $1 (munged and mariadbd write theirs in folders their users own)
    case "$1" in
        munged) echo "$MUNGE_DIR/munged.pid" ;;
        mariadbd) echo "$DB_DIR/mariadbd.pid" ;;
        *) echo "$PID_DIR/$1.pid" ;;
    esac
}

running_pid() {
    # Print the pid of daemon $1 if its pid file names a live process of that program.
    local file pid
    file="$(pid_file "$1")"
    [ -s "$file" ] || return 1
    pid="$(tr -dc '0-9' < "$file")"
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
    [ "$(cat "/proc/$pid/comm")" = "$1" ] || return 1
    echo "$pid"
}
