# Data stage: ingest -> split (Training only, stratified, seeded) -> flip (train part only).


rule ingest:
    input:
        unpack(ingest_inputs),
    output:
        faces=P.faces,
    log:
        f"{R}/logs/ingest.log",
    threads: ingest_threads
    params:
        source=ingest_params(),
    script:
        "../scripts/ingest.py"


rule split:
    input:
        faces=rules.ingest.output.faces,
    output:
        split=P.split,
        train=P.train_flipped,
    log:
        f"{R}/logs/split.log",
    params:
        split=config["split"],
    script:
        "../scripts/split.py"
