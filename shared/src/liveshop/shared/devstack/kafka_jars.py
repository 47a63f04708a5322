"""The Kafka broker's jars, resolved once from Maven Central into ``.cache/kafka/<version>/libs``:
``org.apache.kafka:kafka_2.13`` and a log4j2 SLF4J binding (needs ``java`` and ``mvn``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from liveshop.shared.paths import cache_dir

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.26.1"
SLF4J_VERSION = "2.0.17"

_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.liveshop</groupId>
  <artifactId>local-kafka</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>
      <version>{slf4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""


class MissingTool(RuntimeError):
    pass


def require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise MissingTool(f"`{tool}` not found on PATH. {hint}")
    return path


def ensure_jars(version: str = KAFKA_VERSION) -> Path:
    """Resolve the broker's jars once (Maven Central) and return the folder holding them."""
    base = cache_dir() / "kafka" / version
    libs = base / "libs"
    done = base / ".resolved"
    if done.exists() and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    java_hint = "Install a Java 17+ runtime, e.g. `apt-get install -y openjdk-17-jre-headless`."
    require("java", java_hint)
    mvn = require("mvn", "Install Apache Maven, e.g. `apt-get install -y maven` (it fetches the Kafka jars).")
    base.mkdir(parents=True, exist_ok=True)
    pom = base / "pom.xml"
    pom.write_text(_POM.format(kafka=version, log4j=LOG4J_VERSION, slf4j=SLF4J_VERSION), encoding="utf-8")
    if libs.exists():
        shutil.rmtree(libs)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
        "-DincludeScope=runtime",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"Maven could not resolve Kafka {version}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    # Kafka pulls slf4j 1.7 transitively; the log4j2 binding needs 2.x: keep only the newest.
    for old in libs.glob("slf4j-api-1.*.jar"):
        old.unlink()
    done.write_text(version, encoding="utf-8")
    return libs
