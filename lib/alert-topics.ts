import { Duration, RemovalPolicy, SecretValue, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

/** How loud a notification is: `critical` pages now, `warning` is read in working hours. */
export type Severity = 'critical' | 'warning';
export const SEVERITIES: readonly Severity[] = ['critical', 'warning'];

/** Who is told of one severity. */
export interface AlertSubscribers {
  /** E-mail addresses (each confirms its subscription). @default [] */
  readonly emails?: string[];
  /** HTTPS endpoints, e.g. a pager integration's URL. @default [] */
  readonly httpsEndpoints?: string[];
  /**
   * HTTPS endpoints whose URL holds a secret (an API key in the query string): a Secrets Manager
   * secret whose value (or JSON field) is the URL. The template holds only a
   * `{{resolve:secretsmanager:...}}` reference; CloudFormation resolves it when it creates the
   * subscription. @default []
   */
  readonly httpsEndpointSecrets?: { readonly secretArn: string; readonly jsonField?: string }[];
}

/** Properties of {@link AlertTopics}. */
export interface AlertTopicsProps {
  /** Subscribers per severity. @default none */
  readonly subscribers?: Partial<Record<Severity, AlertSubscribers>>;
  /** Name prefix of the topics (`<prefix>-critical`). @default the stack name */
  readonly topicNamePrefix?: string;
}

/**
 * The per-severity SNS topics every pgdr notification goes to (the failover workflow now, the
 * recovery-objective alarms next): KMS-encrypted with a key of their own (rotation on), TLS-only
 * publishing. The key lets CloudWatch alarms and EventBridge publish (service principals, this
 * account only); other publishers get `grantPublish`.
 */
export class AlertTopics extends Construct {
  readonly key: kms.Key;
  readonly critical: sns.Topic;
  readonly warning: sns.Topic;

  constructor(scope: Construct, id: string, props: AlertTopicsProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    const prefix = props.topicNamePrefix ?? stack.stackName;
    this.key = new kms.Key(this, 'Key', {
      description: `pgdr ${prefix}: encrypts the alert topics`,
      enableKeyRotation: true,
      // A deleted key would make messages still queued for delivery unreadable; nothing else depends on it.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // CloudWatch alarms and EventBridge rules publish to encrypted topics only when the key lets them.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com'), new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'], // in a key policy "*" means this key
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
    const topic = (severity: Severity): sns.Topic => {
      const t = new sns.Topic(this, severity === 'critical' ? 'Critical' : 'Warning', {
        topicName: `${prefix}-${severity}`,
        displayName: `pgdr ${severity}`,
        masterKey: this.key,
        enforceSSL: true,
      });
      const subs = props.subscribers?.[severity];
      for (const email of subs?.emails ?? []) t.addSubscription(new subscriptions.EmailSubscription(email));
      for (const url of subs?.httpsEndpoints ?? []) t.addSubscription(new subscriptions.UrlSubscription(url, { protocol: sns.SubscriptionProtocol.HTTPS }));
      for (const ref of subs?.httpsEndpointSecrets ?? []) {
        // unsafeUnwrap: the token becomes a dynamic reference in the template, never the value.
        const url = SecretValue.secretsManager(ref.secretArn, { jsonField: ref.jsonField }).unsafeUnwrap();
        t.addSubscription(new subscriptions.UrlSubscription(url, { protocol: sns.SubscriptionProtocol.HTTPS }));
      }
      return t;
    };
    this.critical = topic('critical');
    this.warning = topic('warning');
  }

  /** The topic of a severity. */
  topic(severity: Severity): sns.Topic {
    return severity === 'critical' ? this.critical : this.warning;
  }

  /** Lets `grantee` publish to both topics (and use the key for it). */
  grantPublish(grantee: iam.IGrantable): void {
    // Not Topic.grantPublish: it grants kms:GenerateDataKey*, a wildcard action; SNS needs these two.
    iam.Grant.addToPrincipal({ grantee, actions: ['sns:Publish'], resourceArns: [this.critical.topicArn, this.warning.topicArn] });
    this.key.grant(grantee, 'kms:Decrypt', 'kms:GenerateDataKey');
  }
}
