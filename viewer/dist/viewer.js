var $,xe,st,T,se,Z,we,Q,Ie,ie,re,rt,V=Symbol.for("pv"),ee={},te=[],it=/^m(i|n|o|s|text|space)$/,ae=Array.isArray,_e=te.slice,U=Object.assign;function N(t){t&&t.parentNode&&t.remove()}function ue(t,e,n){var s,i,o,r={},a=arguments.length;for(o in e)o=="key"?s=e[o]:o=="ref"&&typeof t!="function"?i=e[o]:r[o]=e[o];return a>2&&(r.children=a>3?_e.call(arguments,2):n),B(t,r,s,i,null)}function B(t,e,n,s,i){var o={type:t,props:e,key:n,ref:s,__k:null,__:null,__b:0,__e:null,__c:null,constructor:V,__v:i||++xe,__i:-1,__u:0};return!i&&$.vnode&&$.vnode(o),o}function ne(t){return t.children}function q(t,e){this.props=t,this.context=e,this.__g=0}function L(t,e){if(e==null)return t.__&&L(t.__,t.__i+1);for(var n;e<t.__k.length;e++)if((n=t.__k[e])&&n.__e)return n.__e;return typeof t.type!="function"||t.props.__P?null:L(t)}function at(t){var e,n=t.__v,s=n.__e,i=[],o=[],r=t.__P;r&&((e=U({constructor:V},n)).__v=n.__v+1,$.vnode&&$.vnode(e),le(r,e,n,t.__n,r.namespaceURI,32&n.__u?[s]:null,i,s||L(n),32&n.__u,o),e.__v=n.__v,e.__.__k[e.__i]=e,He(i,e,o),n.__=n.__e=null,e.__e!=s&&Ce(e))}function Ce(t){if((t=t.__)&&t.__c&&!t.props.__P)return t.__e=null,t.__k.some(function(e){return e&&(t.__e=e.__e)}),Ce(t)}function ke(t){(8&t.__g||(t.__g|=8,T.push(t),Z++))&&se==$.debounceRendering||((se=$.debounceRendering)||queueMicrotask)(Ee)}function Ee(){try{for(var t,e=1;T.length;)T.length>e&&T.sort(we),t=T.shift(),e=T.length,8&t.__g&&at(t)}finally{(Z=T.length)&&(se||queueMicrotask)(Ee)}}function Re(t,e,n,s,i,o,r,a,l,c,u){var f,d,_,h,v,p,b=s.__k||te,g=e.length;for(l=_t(n,e,b,l,g),f=0;f<g;f++)(_=n.__k[f])!=null&&(d=~_.__i&&b[_.__i]||ee,_.__i=f,p=le(t,_,d,i,o,r,a,l,c,u),h=_.__e,(d.ref!=_.ref||8&d.__u)&&(d.ref&&ce(d.ref,null,_,d),_.ref&&u.push(_.ref,_.__c||h,_)),v=v||h,4&_.__u?(l=Pe(_,l,t,!d.__v),d.__e&&(d.__e=null)):typeof _.type=="function"&&p!==void 0?l=p:h&&(l=h.nextSibling),_.__u&=-21);return n.__e=v,l}function _t(t,e,n,s,i){var o,r,a,l,c,u,f,d,_,h=n.length,v=h,p=0,b=0,g=t.__k=Array(i);for(o=0;o<i;o++)(r=e[o])!=null&&typeof r!="boolean"&&typeof r!="function"?(typeof r!="object"||r.constructor===String?r=g[o]=B(null,r):ae(r)?r=g[o]=B(ne,{children:r}):r.constructor===V&&r.__b?r=g[o]=B(r.type,r.props,r.key,r.ref,r.__v):g[o]=r,l=o+p,r.__=t,r.__b=t.__b+1,a=null,~(c=r.__i=ut(r,n,l,v))&&(v--,(a=n[c])&&(a.__u|=2)),a&&a.__v?(r.__u|=16,c==l-1?p--:c==l+1?p++:c!=l&&(c>l?p--:p++,b=1)):(~c||(i>h?p--:i<h&&p++),typeof r.type!="function"&&(r.__u|=4))):g[o]=null;if(b){for(u=[],f=[],o=0;o<i;o++)if((r=g[o])&&16&r.__u){for(p=0,d=u.length;p<d;)u[_=p+d>>1]<r.__i?p=_+1:d=_;u[p]=r.__i,f[o]=p+1}for(p=u.length;o--;)f[o]&&(f[o]==p?p--:g[o].__u|=4)}if(v)for(o=0;o<h;o++)!(a=n[o])||2&a.__u||(a.__e==s&&(s=L(a)),de(a,a));return s}function Pe(t,e,n,s){var i,o,r,a;if(typeof t.type=="function"){if(t.props.__P)return e;if(i=t.__k)for(o=0;o<i.length;o++)i[o]&&(i[o].__=t,e=Pe(i[o],e,n,!1));return e}for(e&&!e.parentNode&&(e=L(t))&&!e.parentNode&&(e=null),r=t.__e,a=e;a&&a.nodeType==8;)a=a.nextSibling;for(r!=a&&(!s&&n.moveBefore&&r.parentNode?n.moveBefore(r,e):n.insertBefore(r,e||null)),e=r;(e=e&&e.nextSibling)&&e.nodeType==8&&!e.data.startsWith("$s"););return e}function ut(t,e,n,s){var i,o=t.key,r=t.type,a=e[n],l=a&&!(2&a.__u);if(a===null&&o==null||l&&o==a.key&&r==a.type)return n;if(s>(l?1:0)){for(i=n-1;i>=0;i--)if((a=e[i])&&!(2&a.__u)&&o==a.key&&r==a.type)return i;for(i=n+1;i<e.length;i++)if((a=e[i])&&!(2&a.__u)&&o==a.key&&r==a.type)return i}return-1}function Se(t,e,n){n==null&&(n=""),e[0]=="-"?t.setProperty(e,n):t[e]=n}function Y(t,e,n,s,i){var o,r;if(e=="style")if(typeof n=="string")t.style.cssText=n;else{if(typeof s=="string"&&(t.style.cssText=s=""),s)for(e in s)n&&e in n||Se(t.style,e);if(n)for(e in n)s&&n[e]==s[e]||Se(t.style,e,n[e])}else if(e[0]=="o"&&e[1]=="n")typeof n!="function"&&(n=null),typeof s!="function"&&(s=null),(t.__e||(t.__e={}))[e]=n,n&&s||(r=re[e]||(re[e]=lt(e)),(t.__a||(t.__a={}))[e]=ie,o=e!=(e=e.replace(Ie,"$1")),(e=e.slice(2))[0]<"a"&&(e=e.toLowerCase()),n?t.addEventListener(e,r,o):t.removeEventListener(e,r,o));else{if(i=="http://www.w3.org/2000/svg")e=e.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if(e!="width"&&e!="height"&&e!="href"&&e!="list"&&e!="form"&&e!="tabIndex"&&e!="download"&&e!="rowSpan"&&e!="colSpan"&&e!="role"&&e!="popover"&&e in t)try{return void(t[e]=n??"")}catch{}if(typeof n=="function")return;n==null||n===!1&&e[4]!="-"?t.removeAttribute(e):t.setAttribute(e,e=="popover"&&n==1?"":n)}}function lt(t){return function(e){var n=this.__e;if(n){if(n=n[t],e[Q]==null)e[Q]=ie++;else if(e[Q]<this.__a[t])return;return n($.event?$.event(e):e)}}}function le(t,e,n,s,i,o,r,a,l,c){var u,f,d,_,h,v,p,b,g,k,y,F,W,H,E,w,P,M,j=e.type;if(e.constructor!==V)return null;128&n.__u&&(l=32&n.__u,u=n.__c.__z)&&(e.__u|=l,f=o=[],u.nodeType==8?a=X(u,o):o.push(u),a=o[0]||a),(u=$.__b)&&u(e);e:if(typeof j=="function"){d=r.length;try{if(b=e.props,g=(u=j.prototype)&&u.render,k=(u=j.contextType)&&s[u.__c],y=u?k?k.props.value:u.__:s,(_=n.__c)?(e.__c=_,2&_.__g&&(_.__g|=1)):(g?e.__c=_=new j(b,y):(e.__c=_=new q(b,y),_.constructor=j,_.render=dt),k&&k.sub(_),_.state||(_.state={}),_.__n=s,_.__g|=8,_.__h=[],_.__k=[]),g&&(_.__s||(_.__s=_.state),j.getDerivedStateFromProps&&(_.__s==_.state&&(_.__s=U({},_.__s)),U(_.__s,j.getDerivedStateFromProps(b,_.__s)))),h=_.props,v=_.state,_.__v=e,n.__c){if(b!==h&&g&&!j.getDerivedStateFromProps&&_.componentWillReceiveProps&&_.componentWillReceiveProps(b,y),e.__v==n.__v&&!(8&_.__g)||!(4&_.__g)&&_.shouldComponentUpdate&&_.shouldComponentUpdate(b,_.__s,y)===!1){e.__v!=n.__v&&(_.props=b,_.state=_.__s,_.__g&=-9),e.__e=n.__e,e.__k=n.__k,e.__k.some(function(R){R&&(R.__=e)}),te.push.apply(_.__h,_.__k),_.__k=[],_.__h.length&&r.push(_),a=L(n);break e}_.componentWillUpdate&&_.componentWillUpdate(b,_.__s,y),g&&_.componentDidUpdate&&_.__h.push(function(){_.componentDidUpdate(h,v,p)})}else g&&!j.getDerivedStateFromProps&&_.componentWillMount&&_.componentWillMount(),g&&_.componentDidMount&&_.__h.push(_.componentDidMount);_.context=y,_.props=b,_.__P=t,_.__g&=-5,F=$.__r,W=g?25:0;do _.__g&=-9,F&&F(e),u=_.render(_.props,_.state=_.__s,_.context);while(8&_.__g&&++W<25);g&&(te.push.apply(_.__h,_.__k),_.__k=[]),_.state=_.__s,_.getChildContext&&(s=U({},s,_.getChildContext())),g&&n.__c&&_.getSnapshotBeforeUpdate&&(p=_.getSnapshotBeforeUpdate(h,v)),H=u&&u.type===ne&&u.key==null?u.props.children:u,b.__P&&(u=a,i=(t=b.__P).namespaceURI,l=o=null,n.props&&n.props.__P!=t&&(n.__k.some(function(R){R&&de(R,R)}),n.__k=null),a=n.__k?L(n,0):null),a=Re(t,ae(H)?H:[H],e,n,s,i,o,r,a,l,c),b.__P&&(e.__e=null,a=u),e.__u&=-161,f&&f.some(N),_.__h.length&&r.push(_),1&_.__g&&(_.__g&=-4)}catch(R){if(r.length=d,e.__v=null,l||o)if(R&&R.then){if(e.__u|=128|l,o){for(~(P=o.indexOf(a||void 0))||(P=o.length);(M=o[P-1])&&M.nodeType==8;)P--;for(;P<o.length;P++)if(M=o[P])if(o[P]=null,E){if(M==w)break}else{if(M.nodeType!=8)break;M.data.startsWith("$s")&&(w=X(E=M))}}if(!E){for(;a&&a.nodeType==8&&a.nextSibling;)a=a.nextSibling;E=a}(u=X(E=e.__c.__z||(e.__c.__z=E)))?(e.__e=E,a=u):e.__e=a,a=a&&a.nextSibling}else o&&o.some(N);else e.__e=n.__e;e.__k||(e.__k=n.__k||[]),R&&R.then||je(e),$.__e(R,e,n)}}else a=e.__e=ct(n.__e,e,n,s,i,o,r,l,c,t);return(u=$.diffed)&&u(e),a}function X(t,e){if(t&&t.nodeType==8&&t.data.startsWith("$s"))for(var n=1;t=t.nextSibling;){if(t.nodeType==8){if(t.data.startsWith("$s"))n++;else if(t.data.startsWith("/$s")&&!--n)return t}e&&e.push(t)}}function je(t){t&&(t.__c&&(t.__c.__g|=4),t.__k&&t.__k.some(je))}function He(t,e,n){for(var s=0;s<n.length;)ce(n[s++],n[s++],n[s++]);$.__c&&$.__c(e,t),t.some(function(i){try{t=i.__h,i.__h=[],t.some(function(o){o.call(i)})}catch(o){$.__e(o,i.__v)}})}function ct(t,e,n,s,i,o,r,a,l,c){var u,f,d,_,h,v,p,b,g=n.props||ee,k=e.props,y=e.type;if(y=="svg"?i="http://www.w3.org/2000/svg":y=="math"?i="http://www.w3.org/1998/Math/MathML":i||(i="http://www.w3.org/1999/xhtml"),o){for(u=0;u<o.length;u++)if((h=o[u])&&(y?h.localName==y:h.nodeType==3)){t=h,o[u]=null;break}}if(!t){if(b=c.ownerDocument||document,!y)return b.createTextNode(k);t=b.createElementNS(i,y,k.is?k:c),a&&($.__m&&$.__m(e,o),a=!1),o=null}if(y){if(c=y=="template"&&t.content||t,o=y=="textarea"&&k.defaultValue!=null?null:o&&_e.call(c.childNodes),!a&&o)for(g={},u=0;u<t.attributes.length;u++)g[(h=t.attributes[u]).name]=h.value;for(u in g)h=g[u],u=="dangerouslySetInnerHTML"?d=h:u=="children"||u in k||u=="value"&&"defaultValue"in k||u=="checked"&&"defaultChecked"in k||Y(t,u,null,h,i);for(u in k)h=k[u],u=="children"?_=h:u=="dangerouslySetInnerHTML"?f=h:u=="value"?v=h:u=="checked"?p=h:a&&typeof h!="function"||g[u]===h||Y(t,u,h,g[u],i);f?(a||d&&(f.__html==d.__html||f.__html==t.innerHTML)||(t.innerHTML=f.__html),e.__k=[]):(d&&(t.textContent=""),(y=="foreignObject"||i=="http://www.w3.org/1998/Math/MathML"&&it.test(y))&&(i="http://www.w3.org/1999/xhtml"),Re(c,ae(_)?_:[_],e,n,s,i,o,r,o?o[0]:n.__k&&L(n,0),a,l),o&&o.some(N)),a&&y!="textarea"||(u="value",y=="progress"&&v==null?t.removeAttribute(u):v==null||v===t[u]&&(y!="progress"||v)||Y(t,u,v,g[u],i),u="checked",p!=null&&p!=t[u]&&Y(t,u,p,g[u],i))}else g===k||a&&t.data==k||(t.data=k);return t}function ce(t,e,n,s){try{typeof t=="function"?e?e.__x=t(e)||1:s&&(s=s.__c||s.__e)&&(e=s.__x)&&(s.__x=null,typeof e=="function"?e():t(null)):t.current=e}catch(i){$.__e(i,n)}}function de(t,e,n){var s,i,o,r;if($.unmount&&$.unmount(t),!(s=t.ref)||s.current&&s.current!=t.__e||ce(s,null,e,t),s=t.__c){if(s.componentWillUnmount)try{s.componentWillUnmount()}catch(a){$.__e(a,e)}s.__P=s.__n=null}if(s=t.__k)for(r=0;r<s.length;r++)s[r]&&de(s[r],e,typeof t.type!="function"||n&&!t.props.__P);!n&&(s=t.__c)&&(s=s.__z)&&(i=X(s,o=[]))&&(s==t.__e&&o.some(N),N(i),N(s)),n||N(t.__e),t.__e=t.__c=t.__=null}function dt(t,e,n){return this.constructor(t,n)}function fe(t,e){var n,s,i,o;$.__&&$.__(t,e),e.nodeType==9&&(e=e.documentElement),s=(n=t&&32&t.__u)?null:e.__k,e.__k=B(ne,{children:[t]}),i=[],o=[],le(e,e.__k,s||ee,ee,e.namespaceURI,s?null:e.firstChild?_e.call(e.childNodes):null,i,s?s.__e:e.firstChild,n,o),He(i,e.__k,o),e.__k.props.children=null}$={__e:function(t,e,n,s){for(var i,o,r;e=e.__;)if((i=e.__c)&&!(1&i.__g)){i.__g|=4;try{if((r=(o=i.constructor)&&o.getDerivedStateFromError)&&i.setState(o.getDerivedStateFromError(t)),i.componentDidCatch&&(i.componentDidCatch(t,s||{}),r=1),r&&8&i.__g)return void(i.__g|=2)}catch(a){t=a}}throw Z=0,t}},xe=0,st=function(t){return t!=null&&t.constructor===V},q.prototype.setState=function(t,e){var n=this.__s;n&&n!=this.state||(n=this.__s=U({},this.state)),typeof t=="function"&&(t=t(U({},n),this.props)),t&&(U(n,t),this.__v&&(e&&this.__k.push(e),ke(this)))},q.prototype.forceUpdate=function(t){this.__v&&(this.__g|=4,t&&this.__h.push(t),ke(this))},q.prototype.render=ne,T=[],Z=0,we=function(t,e){return t.__v.__b-e.__v.__b},Q=Symbol(),Ie=/(PointerCapture)$|Capture$/i,ie=0,re={},rt=0;var z,x,pe,Te,me=Object.is,oe=0,We=[],he=[],S=$,Le=S.__b,Me=S.__r,Ne=S.diffed,Ue=S.__c,Ae=S.unmount,De=S.__;function ve(t,e){S.__h&&S.__h(x,t,oe||e),oe=0;var n=x.__H||(x.__H={__:[],__h:[]});return t>=n.__.length&&n.__.push({}),n.__[t]}function I(t){return oe=1,ft(Ve,t)}function ft(t,e,n){var s=ve(z++,2);if(s.t=t,!s.__c&&(s.__=[n?n(e):Ve(void 0,e),function(o){var r=(s.__N||s.__)[0],a=s.t(r,o);me(r,a)||(s.__N=[a,s.__[1]],s.__c.setState({}))}],s.__c=x,!x.__f)){x.__f=!0;var i=x.shouldComponentUpdate;x.shouldComponentUpdate=function(o,r,a){var l=this.__H;if(!l)return!0;var c=!1,u=this.props!=o;if(l.__.some(function(d){d.__N&&(c=!0,me(d.__[0],d.__N[0])||(u=!0))}),i){var f=i.call(this,o,r,a);return c?f||u:f}return!c||u}}return s.__}function A(t,e){var n=ve(z++,3);!S.__s&&qe(n.__H,e)&&(n.__P=!0,n.__=t,n.u=e,x.__H.__h.push(n))}function Be(t){return oe=5,ye(function(){return{current:t}},[])}function ye(t,e){var n=ve(z++,7);return qe(n.__H,e)&&(n.__=t(),n.__H=e),n.__}function pt(){var t;do{for(;t=he.shift();)try{J(t)}catch(n){S.__e(n,{__:(t=t.__P)&&t.__v})}for(;t=We.shift();){var e=t.__H;if(t.__P&&e)try{e.__h.some(J),e.__h.some(ge),e.__h=[]}catch(n){e.__h=[],S.__e(n,t.__v)}}}while(he.length)}S.__b=function(t){x=null,Le&&Le(t)},S.__=function(t,e){t&&e.__k&&e.__k.__m&&(t.__m=e.__k.__m),De&&De(t,e)},S.__r=function(t){Me&&Me(t),z=0;var e=(x=t.__c).__H;e&&(pe==x?x.__h=[]:(e.__h.some(J),e.__h.some(ge),z=0),e.__h=[],e.__.some(function(n){n.__N&&(n.__=n.__N),n.u=n.__N=void 0})),pe=x},S.diffed=function(t){Ne&&Ne(t);var e=t.__c;e&&e.__H&&(e.__H.__h.length&&Oe(We.push(e)),e.__H.__.some(function(n){n.u&&(n.__H=n.u)})),pe=x=null},S.__c=function(t,e){e.some(function(n){try{n.__h.some(J),n.__h=n.__h.filter(function(s){return!s.__||ge(s)})}catch(s){n.__h=[function(){throw s}]}}),Ue&&Ue(t,e)},S.unmount=function(t){Ae&&Ae(t);var e,n,s=t.__c;s&&s.__H&&(s.__H.__.some(function(i){try{if(i.__P&&i.__c){if(n===void 0){for(n=t.__;n&&(!n.__c||!n.__c.__P);)n=n.__;n=n&&n.__c}i.__P=n,Oe(he.push(i))}else J(i)}catch(o){e=o}}),s.__H=void 0,e&&S.__e(e,s.__v))};var Fe=typeof requestAnimationFrame=="function";function mt(t){var e,n=function(){clearTimeout(s),Fe&&cancelAnimationFrame(e),setTimeout(t)},s=setTimeout(n,35);Fe&&(e=requestAnimationFrame(n))}function Oe(t){t!=1&&Te==S.requestAnimationFrame||((Te=S.requestAnimationFrame)||mt)(pt)}function J(t){var e=x,n=t.__c;typeof n=="function"&&(t.__c=void 0,n()),x=e}function ge(t){var e=x;t.__c=t.__(),x=e}function qe(t,e){return!t||t.length!=e.length||e.some(function(n,s){return!me(n,t[s])})}function Ve(t,e){return typeof e=="function"?e(t):e}var ze=function(t,e,n,s){var i;e[0]=0;for(var o=1;o<e.length;o++){var r=e[o++],a=e[o]?(e[0]|=r?1:2,n[e[o++]]):e[++o];r===3?s[0]=a:r===4?s[1]=Object.assign(s[1]||{},a):r===5?(s[1]=s[1]||{})[e[++o]]=a:r===6?s[1][e[++o]]+=a+"":r?(i=t.apply(a,ze(t,a,n,["",null])),s.push(i),a[0]?e[0]|=2:(e[o-2]=0,e[o]=i)):s.push(a)}return s},Je=new Map;function Ke(t){var e=Je.get(this);return e||(e=new Map,Je.set(this,e)),(e=ze(this,e.get(t)||(e.set(t,e=(function(n){for(var s,i,o=1,r="",a="",l=[0],c=function(d){o===1&&(d||(r=r.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?l.push(0,d,r):o===3&&(d||r)?(l.push(3,d,r),o=2):o===2&&r==="..."&&d?l.push(4,d,0):o===2&&r&&!d?l.push(5,0,!0,r):o>=5&&((r||!d&&o===5)&&(l.push(o,0,r,i),o=6),d&&(l.push(o,d,0,i),o=6)),r=""},u=0;u<n.length;u++){u&&(o===1&&c(),c(u));for(var f=0;f<n[u].length;f++)s=n[u][f],o===1?s==="<"?(c(),l=[l],o=3):r+=s:o===4?r==="--"&&s===">"?(o=1,r=""):r=s+r[0]:a?s===a?a="":r+=s:s==='"'||s==="'"?a=s:s===">"?(c(),o=1):o&&(s==="="?(o=5,i=r,r=""):s==="/"&&(o<5||n[u][f+1]===">")?(c(),o===3&&(l=l[0]),o=l,(l=l[0]).push(2,0,o),o=0):s===" "||s==="	"||s===`
`||s==="\r"?(c(),o=2):r+=s),o===3&&r==="!--"&&(o=4,l=l[0])}return c(),l})(t)),e),arguments,[])).length>1?e:e[0]}var m=Ke.bind(ue);var $e="joinery.apiKey",O={key:()=>sessionStorage.getItem($e),signIn:t=>{sessionStorage.setItem($e,t)},signOut:()=>{sessionStorage.removeItem($e)}},K=class extends Error{status;code;constructor(e,n,s){super(s),this.status=e,this.code=n}};async function D(t,e={}){let n=await fetch(t,{method:e.method??"GET",headers:{authorization:`Bearer ${O.key()??""}`}}),s=await n.json().catch(()=>({}));if(!n.ok){let i=s.error;throw new K(n.status,i?.code??"JNY_UNKNOWN",i?.message??n.statusText)}return s}async function Ge(t,e){let{token:n}=await D("/v1/streams/tokens",{method:"POST"}),s=new URL(t,location.href);return s.protocol=location.protocol==="https:"?"wss:":"ws:",s.searchParams.set("token",n),e!==void 0&&s.searchParams.set("lastEventId",e),s.toString()}function be(t,e){let n,s,i=!1,o=[],r=!1,a=0,l=()=>{r=!1;let f=o;o=[],f.length>0&&e.frames(f)},c=async()=>{try{n=new WebSocket(await Ge(t,s))}catch(f){e.status(`cannot open the live stream: ${f.message}`),u();return}n.onopen=()=>{a=0,e.status("live")},n.onmessage=f=>{let d=JSON.parse(f.data);d.type==="event"&&(s=d.id),o.push(d),r||(r=!0,requestAnimationFrame(l))},n.onclose=f=>{if(!i){if(f.code>=4e3&&f.code!==4429){e.status(`the live stream was refused: ${f.reason} (${String(f.code)})`);return}e.status("reconnecting\u2026"),u()}}},u=()=>{i||(a++,setTimeout(()=>{c()},Math.min(1e4,500*2**a)))};return c(),{close(){i=!0,n?.close(1e3,"page left")}}}function Ye(t,e){let n=t.at(-1);if(n===void 0)return{rate:null,etaSeconds:null};let s=t.find(a=>n.at-a.at<=1e4)??n,i=(n.at-s.at)/1e3,o=i>0?(n.seen-s.seen)/i:null,r=o!==null&&o>0&&e!==null?Math.max(0,(e-n.seen)/o):null;return{rate:o,etaSeconds:r}}var G=200;function Qe(t){let e=/^#\/runs\/([0-9a-f-]{36})$/.exec(t);if(e?.[1]!==void 0)return{page:"run",id:e[1]};let n=/^#\/identities\/([0-9a-f-]{36})$/.exec(t);if(n?.[1]!==void 0)return{page:"identity",id:n[1]};let s=/^#\/objects\/([0-9a-f-]{36})\/(.+)$/.exec(t);if(s?.[1]!==void 0&&s[2]!==void 0)try{return{page:"object",applicationId:s[1],externalId:decodeURIComponent(s[2])}}catch{return{page:"runs"}}return{page:"runs"}}function ht(){let[t,e]=I(Qe(location.hash));return A(()=>{let n=()=>{e(Qe(location.hash))};return addEventListener("hashchange",n),()=>{removeEventListener("hashchange",n)}},[]),t}var gt=new Intl.NumberFormat,C=t=>t==null?"\u2013":gt.format(t),vt=t=>t===null?"\u2013":t<90?`${String(Math.round(t))} s`:`${String(Math.round(t/60))} min`;function yt(t){let[e,n]=I(""),[s,i]=I(null);return m`<form class="sign-in" onSubmit=${async r=>{r.preventDefault(),O.signIn(e.trim());try{await D("/v1/tenant"),t.onSignedIn()}catch(a){O.signOut(),i(a instanceof K?a.message:String(a))}}}>
    <h1>Joinery</h1>
    <label for="api-key">API key</label>
    <input
      id="api-key"
      type="password"
      autocomplete="off"
      value=${e}
      onInput=${r=>{n(r.target.value)}}
    />
    <p class="hint">Kept in this tab only (sessionStorage); used to call the API and open live streams.</p>
    <button type="submit">Sign in</button>
    ${s===null?null:m`<p class="error" role="alert">${s}</p>`}
  </form>`}function $t(){let[t,e]=I(null),[n,s]=I(null);return A(()=>{let i=!0,o=async()=>{try{let a=await D("/v1/runs?limit=50");i&&e(a.items)}catch(a){i&&s(a.message)}};o();let r=setInterval(()=>{o()},2e3);return()=>{i=!1,clearInterval(r)}},[]),n!==null?m`<p class="error">${n}</p>`:t===null?m`<p>Loading sync runs…</p>`:m`<section>
    <h2>Sync runs</h2>
    <table class="runs">
      <thead>
        <tr>
          <th>Started</th>
          <th>Application</th>
          <th>Kind</th>
          <th>Status</th>
          <th>Seen</th>
          <th>Rejected</th>
        </tr>
      </thead>
      <tbody>
        ${t.map(i=>m`<tr key=${i.id}>
              <td>
                <a href=${`#/runs/${i.id}`} data-run=${i.id}
                  >${new Date(i.startedAt).toLocaleString()}</a
                >
              </td>
              <td class="id">${i.applicationId.slice(0,8)}</td>
              <td>${i.kind??""}</td>
              <td><span class=${`status ${i.status}`}>${i.status}</span></td>
              <td class="n">${C(i.seen)}</td>
              <td class="n">${C(i.rejected)}</td>
            </tr>`)}
      </tbody>
    </table>
  </section>`}function bt(t){let[e,n]=I({progress:null,events:[],errors:[],received:0,dropped:0,notices:[]}),[s,i]=I("connecting\u2026"),[o,r]=I([]),a=Be([]);A(()=>{a.current=[];let v=be(`/v1/streams?run=${t.id}`,{status:i,frames:p=>{n(b=>{let{progress:g,events:k,errors:y,received:F,dropped:W,notices:H}=b,E=[];for(let w of p)w.type==="snapshot"||w.type==="progress"?(g=w.run,a.current.push({at:Date.parse(w.run.at),seen:w.run.stages.import.seen}),a.current.length>100&&a.current.splice(0,50)):w.type==="event"?(F++,E.push({id:w.id,event:w.event})):w.type==="dropped"?W+=w.count:w.type==="missed"&&(H=[...H,w.message].slice(-5));if(E.length>0){k=[...E.slice(-G).reverse(),...k].slice(0,G);let w=E.filter(({event:P})=>P.level==="error"||P.outcome==="failed");w.length>0&&(y=[...w.reverse(),...y].slice(0,G))}return{progress:g,events:k,errors:y,received:F,dropped:W,notices:H}})}});return()=>{v.close()}},[t.id]);let l=e.progress?.stages.import.rejected??0;A(()=>{l!==0&&D(`/v1/runs/${t.id}/errors?limit=100`).then(v=>{r(v.items)})},[t.id,l]);let c=e.progress,u=c?.stages.import,{rate:f,etaSeconds:d}=ye(()=>Ye(a.current,u?.total??null),[c]),_=c!==null&&["completed","aborted","failed","incomplete","discarded"].includes(c.status),h=u?.total?Math.min(100,100*u.seen/u.total):null;return m`<section>
    <h2>Sync run <span class="id">${t.id}</span></h2>
    <p class="stream-status" data-stream-status=${s}>Stream: ${s}</p>
    ${c===null?m`<p>Waiting for the run's counters…</p>`:m`<div class="run-summary">
            <p>
              Status:${" "}
              <strong data-run-status=${c.status} class=${`status ${c.status}`}
                >${c.status}</strong
              >
              ${c.reason===null?null:m` — ${c.reason}`}
            </p>
            <table class="stages">
              <thead>
                <tr>
                  <th>Stage</th>
                  <th>Done</th>
                  <th>Of</th>
                  <th>Rate</th>
                  <th>ETA</th>
                  <th>Other</th>
                </tr>
              </thead>
              <tbody>
                <tr data-stage="import">
                  <td>Import</td>
                  <td class="n" data-count="seen">${C(u?.seen)}</td>
                  <td class="n" data-count="total">${C(u?.total)}</td>
                  <td class="n">${_||f===null?"\u2013":`${C(Math.round(f))}/s`}</td>
                  <td class="n">${_?"\u2013":vt(d)}</td>
                  <td>
                    rejected <span data-count="rejected">${C(u?.rejected)}</span>, deleted
                    ${C(u?.deletions)}
                  </td>
                </tr>
                <tr data-stage="join">
                  <td>Join</td>
                  <td class="n" data-count="joined">${C(c.stages.join?.joined)}</td>
                  <td class="n">${C(u?.seen)}</td>
                  <td></td>
                  <td></td>
                  <td>
                    conflicts ${C(c.stages.join?.conflicts)}, unjoined
                    ${C(c.stages.join?.unjoined)}
                  </td>
                </tr>
              </tbody>
            </table>
            <progress max="100" value=${h??0} aria-label="import progress"></progress>
          </div>`}
    ${e.notices.map(v=>m`<p class="notice">${v}</p>`)}
    ${e.dropped>0?m`<p class="notice">${C(e.dropped)} events were not shown: this page read too slowly. The counters above are exact.</p>`:null}
    <h3>Errors</h3>
    <ul class="errors">
      ${o.map(v=>m`<li key=${`line-${String(v.line)}`} data-error="rejected-row">line ${v.line}: ${v.reason}</li>`)}
      ${e.errors.map(({id:v,event:p})=>m`<li key=${v} data-error="event">
            ${Xe(p)} ${p.errorCode??""} ${p.reason??p.message}
          </li>`)}
    </ul>
    <h3>Events <small>(${C(e.received)} received; latest ${G} shown)</small></h3>
    <ol class="events">
      ${e.events.map(({id:v,event:p})=>m`<li key=${v}>
            <time>${new Date(p.at).toLocaleTimeString()}</time>
            ${p.stage??p.category}
            ${p.outcome??""} ${Xe(p)} ${p.message}
          </li>`)}
    </ol>
  </section>`}function Xe(t){return t.identityId!==void 0?m`<a href=${`#/identities/${t.identityId}`}
      >${t.externalId??t.identityId.slice(0,8)}</a
    >`:t.externalId===void 0?null:t.applicationId===void 0?m`<code>${t.externalId}</code>`:m`<a href=${ot(t.applicationId,t.externalId)}><code>${t.externalId}</code></a>`}var Ze=t=>t===void 0?"\u2205":JSON.stringify(t);function tt(t){let{item:e}=t;return m`<li data-history-event=${e.id}>
    <time datetime=${e.at}>${new Date(e.at).toLocaleString()}</time>${" "}
    <span class="stage">${e.stage??e.category}</span>${" "}
    ${e.outcome===void 0?null:m`<span class=${`outcome ${e.outcome}`}>${e.outcome}</span>`}
    ${" "}${e.message}
    ${e.decidedBy===void 0?null:m` <span class="decided-by" data-decided-by>— ${e.decidedBy.kind} ${e.decidedBy.name}</span>`}
    ${e.actor===void 0?null:m` <span class="actor">by ${e.actor.kind} ${e.actor.name??e.actor.id??""}</span>`}
    ${e.applicationId===void 0||e.externalId===void 0?null:m` <a href=${ot(e.applicationId,e.externalId)}><code>${e.externalId}</code></a>`}
    ${e.errorCode===void 0&&e.reason===void 0?null:m`<div class="reason">${e.errorCode??""} ${e.reason??""}</div>`}
    ${e.changes===void 0||e.changes.length===0?null:m`<table class="changes">
            <tbody>
              ${e.changes.map(n=>m`<tr data-change=${n.attribute}>
                    <th>${n.attribute}</th>
                    <td class="old">${Ze(n.old)}</td>
                    <td>→</td>
                    <td class="new">${Ze(n.new)}</td>
                  </tr>`)}
            </tbody>
          </table>`}
  </li>`}function nt(t){let[e,n]=I([]),[s,i]=I(null),[o,r]=I(!0),[a,l]=I(null),c=async u=>{r(!0);try{let f=t.path.includes("?")?"&":"?",d=await D(`${t.path}${f}limit=50${u===null?"":`&after=${encodeURIComponent(u)}`}`);n(_=>u===null?d.items:[..._,...d.items]),i(d.nextCursor),l(null)}catch(f){l(f.message)}finally{r(!1)}};return A(()=>{c(null)},[t.path]),m`<div class="history" data-history=${o?"loading":"loaded"}>
    <p>
      <button class="link" onClick=${()=>{c(null)}}>Refresh</button>
    </p>
    ${a===null?null:m`<p class="error">${a}</p>`}
    ${!o&&e.length===0&&a===null?m`<p class="hint">No events recorded yet.</p>`:null}
    <ol class="events">
      ${e.map(u=>m`<${tt} key=${u.id} item=${u} />`)}
    </ol>
    ${s===null?null:m`<button data-older disabled=${o} onClick=${()=>{c(s)}}>Older events</button>`}
  </div>`}function ot(t,e){return`#/objects/${t}/${encodeURIComponent(e)}`}function kt(t){let[e,n]=I(null),[s,i]=I([]);return A(()=>{D(`/v1/identities/${t.id}`).then(n).catch(()=>{n({})});let o=be(`/v1/streams?identity=${t.id}`,{status:()=>{},frames:r=>{let a=r.flatMap(l=>l.type==="event"?[{id:l.id,event:l.event}]:[]);a.length>0&&i(l=>[...a.reverse(),...l].slice(0,G))}});return()=>{o.close()}},[t.id]),m`<section>
    <h2>Identity <span class="id">${t.id}</span></h2>
    <pre class="record">${e===null?"Loading\u2026":JSON.stringify(e,null,2)}</pre>
    <h3>History</h3>
    <${nt} path=${`/v1/identities/${t.id}/history`} />
    <h3>Live <small>(events as they happen)</small></h3>
    <ol class="events live">
      ${s.map(({id:o,event:r})=>m`<${tt} key=${o} item=${{...r,id:o}} />`)}
    </ol>
  </section>`}function St(t){let e=new URLSearchParams({applicationId:t.applicationId,externalId:t.externalId});return m`<section>
    <h2>
      Object <code>${t.externalId}</code> <span class="id">application ${t.applicationId}</span>
    </h2>
    <h3>History</h3>
    <${nt} path=${`/v1/audit?${e.toString()}`} />
  </section>`}var xt={runs:()=>m`<${$t} />`,run:t=>t.page==="run"?m`<${bt} id=${t.id} />`:null,identity:t=>t.page==="identity"?m`<${kt} id=${t.id} />`:null,object:t=>t.page==="object"?m`<${St} applicationId=${t.applicationId} externalId=${t.externalId} />`:null};function wt(){let[t,e]=I(O.key()!==null),n=ht();return t?m`<div class="shell">
    <nav>
      <strong>Joinery</strong>
      <a href="#/runs" class=${n.page==="runs"?"active":""}>Sync runs</a>
      <button
        class="link"
        onClick=${()=>{O.signOut(),e(!1)}}
      >
        Sign out
      </button>
    </nav>
    <main>${xt[n.page](n)}</main>
  </div>`:m`<${yt}
      onSignedIn=${()=>{e(!0)}}
    />`}var et=document.getElementById("app");et!==null&&fe(m`<${wt} />`,et);
