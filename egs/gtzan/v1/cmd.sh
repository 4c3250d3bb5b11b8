# Job runners: "<runner> [JOB=1:N] LOGFILE COMMAND". Local parallel jobs by default.
#   cpu_cmd: data preparation and dump (run with --max-jobs-run nj)
#   train_cmd: training (one job; give it a GPU on a cluster)
export train_cmd="utils/run.sh"
export cpu_cmd="utils/run.sh"
# On a Slurm cluster (sbatch on PATH) submit instead, e.g.:
#   export SBATCH_PARTITION=gpu SBATCH_TIMELIMIT=48:00:00
#   export train_cmd="utils/slurm.sh --gpu 1 --mem 16G --num-threads 8"
#   export cpu_cmd="utils/slurm.sh --mem 4G"
