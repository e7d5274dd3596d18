"""S3 through Beam's FileSystems with one boto3 client per process (tailmine's ``share_s3_clients``)
against Beam's default of a new client per call, on moto's S3 server on 127.0.0.1.

Each round does what a unit of work does per shard: write a small object under a temporary name, check
the final name, rename, check, read it back. Rounds alternate shared / per-call (A B A B), best of ``--repeat`` (3).

    python benchmarks/object_store.py [--ops 20] [--repeat 3]
"""
from __future__ import annotations

import argparse
import logging
import os
import time

from timing import best_of


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=20)
    parser.add_argument("--repeat", "--repeats", dest="repeat", type=int, default=3, help="rounds of each, alternating")
    args = parser.parse_args()
    os.environ.update(AWS_EC2_METADATA_DISABLED="true", AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    import boto3
    from apache_beam.io.aws.clients.s3 import boto3_client
    from moto.server import ThreadedMotoServer

    from tailmine.fileio import exists, read_bytes, write_bytes_atomic
    from tailmine.pipelines.options import configure_filesystems

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = "http://%s:%d" % server.get_host_and_port()
    keys = dict(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1")
    boto3.client("s3", endpoint_url=endpoint, **keys).create_bucket(Bucket="bench")
    configure_filesystems([f"--s3_endpoint_url={endpoint}", "--s3_access_key_id=k", "--s3_secret_access_key=s", "--s3_region_name=us-east-1"])
    cls = boto3_client.Client
    shared_init, unshared_init = cls.__init__, cls._tailmine_unshared_init

    def round_trip():
        for i in range(args.ops):
            path = f"s3://bench/out/docs/part-{i:05d}.parquet"
            write_bytes_atomic(path, b"x" * 1000)
            assert exists(path) and read_bytes(path) == b"x" * 1000

    results = {"shared": [], "per-call": []}
    for _ in range(args.repeat):
        for name, init in (("shared", shared_init), ("per-call", unshared_init)):
            cls.__init__ = init
            seconds, _ = best_of(round_trip, 1)
            results[name].append(seconds)
    cls.__init__ = shared_init
    server.stop()
    shared, per_call = min(results["shared"]), min(results["per-call"])
    print(f"{args.ops} shard round trips (write tmp, rename, exists, read): best of {args.repeat}, alternating")
    print(f"  one client per process : {shared:7.2f} s  ({shared / args.ops * 1000:6.1f} ms per shard)")
    print(f"  Beam's client per call : {per_call:7.2f} s  ({per_call / args.ops * 1000:6.1f} ms per shard)")
    print(f"  ratio                  : {per_call / shared:7.1f}x")


if __name__ == "__main__":
    main()
