-- Bounded storage: published outbox rows and inbox rows are pruned after a retention period; the highest offset each consumer applied per partition is kept so that a replay of an old offset is still recognised after its inbox row is gone.
create table inbox_watermark (
    consumer       text not null,
    topic          text not null,
    partition      int not null,
    applied_offset bigint not null,
    updated_at     timestamptz not null default now(),
    primary key (consumer, topic, partition)
);

insert into inbox_watermark (consumer, topic, partition, applied_offset)
select consumer, topic, partition, max("offset") from inbox group by consumer, topic, partition;

create index inbox_processed_at on inbox (processed_at);
create index outbox_published_at on outbox (published_at) where published_at is not null;
