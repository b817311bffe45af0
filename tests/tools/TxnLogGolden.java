// Golden bytes of __transaction_state records from Kafka 3.9.1's own generated classes
// (TransactionLogKey/TransactionLogValue, MessageUtil.toVersionPrefixedBytes, as
// TransactionLog.keyToBytes/valueToBytes write them). Run by hand from the repository root:
//
//   java -cp '/work/cache/kafka-3.9.1/libs/*' tests/tools/TxnLogGolden.java
//
// tests/unit/test_transaction_records.py holds the printed hex, so CI needs no Java.

import java.util.HexFormat;
import java.util.List;
import org.apache.kafka.common.protocol.MessageUtil;
import org.apache.kafka.coordinator.transaction.generated.TransactionLogKey;
import org.apache.kafka.coordinator.transaction.generated.TransactionLogValue;

public class TxnLogGolden {
    static String hex(byte[] b) { return HexFormat.of().formatHex(b); }

    public static void main(String[] args) {
        System.out.println("key " + hex(MessageUtil.toVersionPrefixedBytes((short) 0,
            new TransactionLogKey().setTransactionalId("my-txn"))));
        TransactionLogValue ongoing = new TransactionLogValue()
            .setProducerId(4242L).setProducerEpoch((short) 7).setTransactionTimeoutMs(60000)
            .setTransactionStatus((byte) 1)
            .setTransactionPartitions(List.of(
                new TransactionLogValue.PartitionsSchema().setTopic("a").setPartitionIds(List.of(0, 2)),
                new TransactionLogValue.PartitionsSchema().setTopic("b").setPartitionIds(List.of(1))))
            .setTransactionLastUpdateTimestampMs(1700000000123L)
            .setTransactionStartTimestampMs(1700000000000L);
        System.out.println("ongoing_v0 " + hex(MessageUtil.toVersionPrefixedBytes((short) 0, ongoing)));
        TransactionLogValue empty = new TransactionLogValue()
            .setProducerId(1L).setProducerEpoch((short) 0).setTransactionTimeoutMs(900000)
            .setTransactionStatus((byte) 0).setTransactionPartitions(null)
            .setTransactionLastUpdateTimestampMs(1700000000000L)
            .setTransactionStartTimestampMs(-1L);
        System.out.println("empty_v0 " + hex(MessageUtil.toVersionPrefixedBytes((short) 0, empty)));
        System.out.println("ongoing_v1 " + hex(MessageUtil.toVersionPrefixedBytes((short) 1,
            ongoing)));
    }
}
