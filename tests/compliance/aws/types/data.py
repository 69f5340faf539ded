"""Test cases of the resource types of this group (see tests/compliance/aws/types/__init__.py):
databases, analytics, caches and file systems."""

from __future__ import annotations

from tests.compliance.aws.estate import ACCOUNT, Factory, Made, aws, default_subnets, tag_list


def make_redshift_cluster(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-redshift-{i}"
    cluster = aws("redshift", region).create_cluster(
        ClusterIdentifier=name,
        NodeType="ra3.xlplus",
        MasterUsername="finops",
        MasterUserPassword="Not-a-secret-1",
        **({"Tags": tag_list(tags)} if tags else {}),
    )["Cluster"]
    # Redshift answers with no cluster ARN (``ClusterNamespaceArn`` names the namespace): this
    # is the form of the tagging API, IAM and the bill, "cluster:<identifier>".
    return Made(
        f"arn:aws:redshift:{region}:{ACCOUNT}:cluster:{cluster['ClusterIdentifier']}",
        cluster["ClusterIdentifier"],
    )


def make_neptune_cluster(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-neptune-{i}"
    cluster = aws("neptune", region).create_db_cluster(
        DBClusterIdentifier=name,
        Engine="neptune",
        **({"Tags": tag_list(tags)} if tags else {}),
    )["DBCluster"]
    return Made(cluster["DBClusterArn"], cluster["DBClusterIdentifier"])


def make_memorydb_cluster(region: str, i: int, tags: dict[str, str]) -> Made:
    cluster = aws("memorydb", region).create_cluster(
        ClusterName=f"finops-memorydb-{i}",
        NodeType="db.t4g.small",
        ACLName="open-access",
        **({"Tags": tag_list(tags)} if tags else {}),
    )["Cluster"]
    return Made(cluster["ARN"], cluster["Name"])


def make_msk_cluster(region: str, i: int, tags: dict[str, str]) -> Made:
    cluster = aws("kafka", region).create_cluster_v2(
        ClusterName=f"finops-msk-{i}",
        Provisioned={
            "BrokerNodeGroupInfo": {
                "InstanceType": "kafka.m5.large",
                "ClientSubnets": default_subnets(region)[:2],
            },
            "KafkaVersion": "3.6.0",
            "NumberOfBrokerNodes": 2,
        },
        **({"Tags": tags} if tags else {}),
    )
    return Made(cluster["ClusterArn"], cluster["ClusterName"])


def make_broker(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-broker-{i}"
    broker = aws("mq", region).create_broker(
        BrokerName=name,
        DeploymentMode="SINGLE_INSTANCE",
        EngineType="ACTIVEMQ",
        EngineVersion="5.18",
        HostInstanceType="mq.t3.micro",
        PubliclyAccessible=False,
        AutoMinorVersionUpgrade=True,
        Users=[{"Username": "finops", "Password": "not-a-secret-12"}],
        **({"Tags": tags} if tags else {}),
    )
    # CreateBroker answers with the ARN and id only: the name is the one it was created with.
    return Made(broker["BrokerArn"], name)


def make_emr_cluster(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-emr-{i}"
    flow = aws("emr", region).run_job_flow(
        Name=name,
        ReleaseLabel="emr-7.2.0",
        Instances={
            "InstanceCount": 1,
            "MasterInstanceType": "m5.xlarge",
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
        **({"Tags": tag_list(tags)} if tags else {}),
    )
    # RunJobFlow answers with the ARN and id only: the name is the one it was created with.
    return Made(flow["ClusterArn"], name)


def make_fsx_file_system(region: str, i: int, tags: dict[str, str]) -> Made:
    fs = aws("fsx", region).create_file_system(
        ClientRequestToken=f"finops-fsx-{i}",
        FileSystemType="LUSTRE",
        StorageCapacity=1200,
        SubnetIds=default_subnets(region)[:1],
        **({"Tags": tag_list(tags)} if tags else {}),
    )["FileSystem"]
    return Made(fs["ResourceARN"], tags.get("Name", fs["FileSystemId"]))


def make_replication_group(region: str, i: int, tags: dict[str, str]) -> Made:
    group = aws("elasticache", region).create_replication_group(
        ReplicationGroupId=f"finops-rg-{i}",
        ReplicationGroupDescription="finops test",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=1,
        **({"Tags": tag_list(tags)} if tags else {}),
    )["ReplicationGroup"]
    return Made(group["ARN"], group["ReplicationGroupId"])


FACTORIES: dict[str, Factory] = {
    "redshift:cluster": make_redshift_cluster,
    "neptune:cluster": make_neptune_cluster,
    "memorydb:cluster": make_memorydb_cluster,
    "kafka:cluster": make_msk_cluster,
    "mq:broker": make_broker,
    "elasticmapreduce:cluster": make_emr_cluster,
    "fsx:file-system": make_fsx_file_system,
    "elasticache:replicationgroup": make_replication_group,
}

#: See estate.PAGING. moto answers most of these calls in one page whatever the page size.
PAGING: dict[str, tuple[str, int | None, bool]] = {
    "redshift:cluster": ("redshift:DescribeClusters", 2, False),
    # The DocumentDB and Neptune clients sign as "rds", the IAM prefix of their calls too.
    "neptune:cluster": ("rds:DescribeDBClusters", 2, False),
    "memorydb:cluster": ("memorydb:DescribeClusters", 2, False),
    "kafka:cluster": ("kafka:ListClustersV2", 2, False),
    "mq:broker": ("mq:ListBrokers", 2, False),
    # ListClusters takes no page size: AWS pages it by 50, moto not at all.
    "elasticmapreduce:cluster": ("elasticmapreduce:ListClusters", None, False),
    "fsx:file-system": ("fsx:DescribeFileSystems", 2, True),
    "elasticache:replicationgroup": ("elasticache:DescribeReplicationGroups", 2, True),
}

#: moto's MemoryDB, MQ and EMR backends do not take part in its tagging API.
TAGS_FROM_STUB: frozenset[str] = frozenset(
    {"memorydb:cluster", "mq:broker", "elasticmapreduce:cluster"}
)

#: moto has no Redshift Serverless and no ElastiCache serverless caches, and refuses the
#: ``docdb`` engine: tested in test_data_stubbed.py.
STUBBED: frozenset[str] = frozenset(
    {"redshift-serverless:workgroup", "elasticache:serverlesscache", "docdb:cluster"}
)
