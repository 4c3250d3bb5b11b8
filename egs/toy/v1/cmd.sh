# Job runners. Local parallel jobs by default; on a Slurm cluster use utils/slurm.sh, e.g.
#   export train_cmd="utils/slurm.sh --gpu 1 --mem 16G"
export train_cmd="utils/run.sh"
export cpu_cmd="utils/run.sh"
