"""Optuna as a peer for bench/optimizer.ts: JSON lines on stdin and stdout; it never evaluates a problem.

Node sends a job line {"space": {...SearchSpace...}, "sampler": "tpe" | "cmaes", "seed": n, "trials": N}.
For each of N sequential trials this prints {"params": {...}} and reads {"value": v} (minimization), then
prints {"done": true} and waits for the next job. {"info": true} answers {"optuna": ..., "cmaes": ...}.

Parameters: float -> FloatDistribution(min, max, step, log), int -> IntDistribution(min, max, step, log);
Optuna refuses a step with log, so a log parameter loses its step. categorical -> CategoricalDistribution over
the indices of its values (values may be JSON lists or objects), mapped back to the values. discrete (ordered
numbers) -> CategoricalDistribution of the numbers: unordered, as an Optuna user writes suggest_categorical.
"""

import json
import logging
import sys
import warnings

warnings.filterwarnings("ignore")

import optuna  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)
logging.getLogger("optuna").setLevel(logging.ERROR)


def distribution(param):
    kind = param["type"]
    if kind == "float":
        step = None if param.get("log") else param.get("step")
        return optuna.distributions.FloatDistribution(param["min"], param["max"], step=step, log=bool(param.get("log")))
    if kind == "int":
        step = 1 if param.get("log") else int(param.get("step") or 1)
        return optuna.distributions.IntDistribution(int(param["min"]), int(param["max"]), step=step, log=bool(param.get("log")))
    if kind == "categorical":
        return optuna.distributions.CategoricalDistribution(list(range(len(param["values"]))))
    if kind == "discrete":
        return optuna.distributions.CategoricalDistribution(list(param["values"]))
    raise ValueError(f"unknown parameter type {kind}")


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def receive():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    return json.loads(line)


def run(job):
    space = job["space"]
    distributions = {name: distribution(p) for name, p in space.items()}
    if job["sampler"] == "tpe":
        sampler = optuna.samplers.TPESampler(seed=job["seed"])
    elif job["sampler"] == "cmaes":
        sampler = optuna.samplers.CmaEsSampler(seed=job["seed"])
    else:
        raise ValueError(f"unknown sampler {job['sampler']}")
    study = optuna.create_study(direction="minimize", sampler=sampler)
    for _ in range(job["trials"]):
        trial = study.ask(distributions)
        params = {}
        for name, p in space.items():
            value = trial.params[name]
            params[name] = p["values"][value] if p["type"] == "categorical" else value
        send({"params": params})
        study.tell(trial, float(receive()["value"]))
    send({"done": True})


def main():
    while True:
        job = receive()
        if job.get("info"):
            import cmaes

            send({"optuna": optuna.__version__, "cmaes": cmaes.__version__})
            continue
        run(job)


if __name__ == "__main__":
    main()
